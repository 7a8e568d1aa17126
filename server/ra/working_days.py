"""Working days of the Russian calendar, for applications' due dates (P4: a certificate is
issued within 5 working days of a complete application).

A working day is Monday to Friday, except the non-working public holidays of the Labour
Code of the Russian Federation, article 112: 1-6 and 8 January (New Year holidays), 7
January (Christmas), 23 February, 8 March, 1 May, 9 May, 12 June, 4 November. Each year a
government decree moves some days off (a holiday on a weekend moves to a weekday, some
Saturdays become working): those dates come from the settings (`ra.holidays`,
`ra.working_weekends`), since no rule computes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
ARTICLE_112_HOLIDAYS = frozenset(
    [(1, day) for day in range(1, 9)] + [(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)]
)


class WorkingCalendar:
    def __init__(
        self,
        holidays: Iterable[date] = (),
        working_weekends: Iterable[date] = (),
        zone: tzinfo = MOSCOW,
    ) -> None:
        """Days are those of `zone`, where the CA works (Moscow time by default)."""
        self._holidays = frozenset(holidays)
        self._working_weekends = frozenset(working_weekends)
        self._zone = zone

    @classmethod
    def from_settings(
        cls, holidays: Iterable[str], working_weekends: Iterable[str], zone: str
    ) -> WorkingCalendar:
        return cls(
            map(date.fromisoformat, holidays),
            map(date.fromisoformat, working_weekends),
            ZoneInfo(zone),
        )

    def is_working_day(self, day: date) -> bool:
        if day in self._working_weekends:
            return True
        if day in self._holidays or (day.month, day.day) in ARTICLE_112_HOLIDAYS:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th working day after the day of `start` (the day of a
        complete application does not count, as a time limit in days starts the next day):
        the moment an application becomes overdue."""
        day = start.astimezone(self._zone).date()
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone)
        return end.astimezone(start.tzinfo)

"""Working days for applications' due dates (P4): Monday to Friday, without the Labour
Code's article 112 holidays, with each year's transfers from the settings, in Moscow time."""

from __future__ import annotations

from datetime import UTC, date, datetime

from server.ra.working_days import WorkingCalendar


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_five_working_days_skip_the_weekend() -> None:
    # Saturday 28 Nov 2026: Mon 30 Nov .. Fri 4 Dec; due at the end of Friday, Moscow time.
    assert WorkingCalendar().add_working_days(at(2026, 11, 28, 12), 5) == at(2026, 12, 4, 21)


def test_the_new_year_holidays_do_not_count() -> None:
    # Wed 30 Dec: Thu 31 Dec, then 1-8 January are holidays and 9-10 a weekend: 11-14 Jan.
    assert WorkingCalendar().add_working_days(at(2026, 12, 30, 12), 5) == at(2027, 1, 14, 21)


def test_days_are_moscow_days() -> None:
    # 22:00 UTC on 3 Nov is 01:00 on 4 Nov (a holiday) in Moscow: the next working day is 5 Nov.
    assert WorkingCalendar().add_working_days(at(2026, 11, 3, 22), 1) == at(2026, 11, 5, 21)
    # The same moment counted in UTC days would start from 3 Nov.
    utc = WorkingCalendar(zone=UTC)
    assert utc.add_working_days(at(2026, 11, 3, 22), 1) == at(2026, 11, 6, 0)


def test_the_decrees_transfers_come_from_the_settings() -> None:
    calendar = WorkingCalendar.from_settings(
        holidays=["2026-12-31"], working_weekends=["2026-12-05"], zone="Europe/Moscow"
    )
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert calendar.is_working_day(date(2026, 12, 5))  # a Saturday made working
    assert not calendar.is_working_day(date(2026, 6, 12))  # Russia Day
    assert calendar.is_working_day(date(2026, 6, 11))
    # Fri 4 Dec + 1 working day is the working Saturday 5 Dec.
    assert calendar.add_working_days(at(2026, 12, 4, 6), 1) == at(2026, 12, 5, 21)

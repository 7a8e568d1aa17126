"""The listeners' guard (server/web/limits.py): refusals logged once per kind and interval
with the number left unsaid, and a connection cap that must fit in the open-files limit."""

from __future__ import annotations

import dataclasses
import logging
import resource
from pathlib import Path

import pytest

from config.settings import LimitsSettings, SettingsError
from server.errors import CAError
from server.web.limits import RefusalLog, raise_open_files_limit
from tests.local_ca import settings_for


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_refusals_logs_one_line_per_kind_and_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Ticks()
    refusals = RefusalLog("ocsp", 60.0, clock)
    for _ in range(5):
        refusals.note("target_too_long", "414")
    refusals.note("header_timeout", "closed")
    clock.now += 61
    refusals.note("target_too_long", "414")
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        "ocsp listener: target_too_long: 414",
        "ocsp listener: header_timeout: closed",
        "ocsp listener: target_too_long: 414 (4 more since the last such line)",
    ]


def test_the_connection_caps_must_fit_in_the_open_files_limit(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    settings = settings_for(tmp_path, CA_SERVER__OCSP="127.0.0.1:9999")
    fitting = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, max_connections=100)
    )
    assert raise_open_files_limit(fitting) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    too_many = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, max_connections=hard)
    )
    with pytest.raises(CAError, match=r"limits\.max_connections"):
        raise_open_files_limit(too_many)


def test_the_target_and_field_limits_differ(tmp_path: Path) -> None:
    """aiohttp reports which line was too long only by the limit it passed (414 or 431)."""
    with pytest.raises(SettingsError, match=r"limits\.max_field_bytes"):
        settings_for(tmp_path, CA_LIMITS__MAX_FIELD_BYTES="8190")
    assert settings_for(tmp_path).limits == LimitsSettings()

"""The retention duty (C1; server/node/retention.py) in a serving process: it runs only while
the process holds the duty lease (server/node/duties.py), as part of `_builder_loops`; and
`python -m server retention run` removes the same at once, `--dry-run` only counting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from config import Settings, load_settings
from server.cli.main import main
from server.clock import utc_now
from server.context import open_ca, open_registry
from server.node.duties import DUTIES
from tests.local_ca import settings_for
from tests.unit.server.test_subscribers import person

ELSEWHERE = "node-b/boot/1/1/ns/machine"  # a process of another host: never known gone
ERASE_AFTER_ONE_DAY = {"CA_RETENTION__SUBSCRIBER_DAYS": "1"}
WAIT_WHILE_ANOTHER_HOLDS_S = 2.0


async def subscriber_two_days_old(settings: Settings) -> str:
    registered = utc_now() - timedelta(days=2)
    async with open_ca(settings, signing=False, clock=lambda: registered) as ca:
        return (await ca.subscribers.register(person(), "op")).id


async def test_c1_the_duty_runs_only_in_the_process_holding_the_duty_lease(
    tmp_path: Path,
) -> None:
    home = tmp_path / "ca"
    subprocess.run([sys.executable, "-m", "server", "init", "--home", str(home)],
                   check=True, capture_output=True)  # fmt: skip
    settings = load_settings(home, environ=ERASE_AFTER_ONE_DAY)
    subscriber_id = await subscriber_two_days_old(settings)
    registry = await open_registry(settings)
    try:
        now = utc_now()
        assert await registry.leases.acquire(DUTIES, ELSEWHERE, now, now + timedelta(hours=1))
        async with open_ca(settings, serving=True) as ca:
            assert ca.duties is not None
            await ca.duties.renew()
            assert not ca.duties.holding
            # had the duty started, its first round (at once) would erase within this wait:
            # the holder below erases within about 0.06 s of taking the lease (measured here)
            quiet_until = time.monotonic() + WAIT_WHILE_ANOTHER_HOLDS_S
            while time.monotonic() < quiet_until:
                await ca.duties.renew()
                assert not ca.duties.holding
                assert (await ca.subscribers.get(subscriber_id)).erased_at is None
                await asyncio.sleep(0.1)
            assert (
                ca.metrics.get_sample_value("ca_retention_removed_total", {"kind": "subscribers"})
                == 0
            )

            await registry.leases.release(DUTIES, ELSEWHERE)
            await ca.duties.renew()
            assert ca.duties.holding
            deadline = time.monotonic() + 30
            while (await ca.subscribers.get(subscriber_id)).erased_at is None:
                assert time.monotonic() < deadline, "the duty holder did not erase it"
                await asyncio.sleep(0.05)
            assert (
                ca.metrics.get_sample_value("ca_retention_removed_total", {"kind": "subscribers"})
                == 1
            )
    finally:
        await registry.close()


def test_c1_retention_run_removes_at_once_and_dry_run_only_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    subscriber_id = asyncio.run(subscriber_two_days_old(settings))
    monkeypatch.setenv("CA_RETENTION__SUBSCRIBER_DAYS", "1")
    counts = "attachments 0\nsubscribers 1\nconfirmation_files 0\n"

    assert main(["retention", "run", "--dry-run", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out == counts
    assert main(["retention", "run", "--dry-run", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out == counts  # nothing removed by a dry run
    assert main(["retention", "run", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out == counts
    assert main(["retention", "run", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "attachments 0\nsubscribers 0\nconfirmation_files 0\n"

    async def erased_at() -> datetime | None:
        async with open_ca(load_settings(tmp_path), signing=False) as ca:
            return (await ca.subscribers.get(subscriber_id)).erased_at

    assert asyncio.run(erased_at()) is not None

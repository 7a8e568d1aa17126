"""The shipped Prometheus alert rules (config/monitoring/alert_rules.yml) against Prometheus'
own tool, Debian's `promtool`: the rules load, each fires on the series that should raise
it (`promtool test rules`, tests/monitoring/alert_rules_test.yml), and every metric they
name is on a running server's /metrics, whose text `promtool check metrics` finds clean
(base units, `_total` counters)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli import ROOT, run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http

RULES = ROOT / "config" / "monitoring" / "alert_rules.yml"
RULE_TESTS = ROOT / "tests" / "monitoring" / "alert_rules_test.yml"


def promtool(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert shutil.which("promtool"), "promtool is not installed (scripts/setup.sh installs it)"
    return subprocess.run(["promtool", *map(str, args)], input=stdin, capture_output=True,
                          timeout=120, cwd=RULE_TESTS.parent)  # fmt: skip


@pytest.fixture(scope="module")
def metrics_text(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    home = CAHome(tmp_path_factory.mktemp("monitoring") / "ca")
    run_cli("init", "--home", home.path)
    server = ServerProcess(home)
    try:
        answer = http(f"{server.url}/metrics")
        assert answer.status == 200
        yield answer.body
    finally:
        server.stop()


def test_the_alert_rules_load() -> None:
    checked = promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"SUCCESS: 12 rules found" in checked.stdout


def test_each_alert_fires_on_its_series_and_not_on_healthy_ones() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_the_rules_name_is_served(metrics_text: bytes) -> None:
    named = set(re.findall(r"\bca_[a-z_]+", RULES.read_text(encoding="utf-8")))
    families = set(re.findall(rb"^# TYPE (ca_[a-z_]+) ", metrics_text, re.MULTILINE))
    served = {f.decode() for f in families}
    served |= {f"{f}_total" for f in served}  # a counter's family is named without _total
    assert named and named <= served, sorted(named - served)


def test_the_served_metrics_follow_prometheus_conventions(metrics_text: bytes) -> None:
    checked = promtool("check", "metrics", stdin=metrics_text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")

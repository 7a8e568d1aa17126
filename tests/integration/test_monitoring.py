"""The shipped Prometheus alert rules (config/monitoring/alert_rules.yml) against Prometheus'
own tool, Debian's `promtool`: the rules load, each fires on the series that should raise
it (`promtool test rules`, tests/monitoring/alert_rules_test.yml), and every metric they
name is on a running server's /metrics, whose text `promtool check metrics` finds clean
(base units, `_total` counters). The Grafana dashboard (config/monitoring/
grafana_dashboard.json) is held to the same: its queries parse, and every metric they
show is served."""

from __future__ import annotations

import json
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
DASHBOARD = ROOT / "config" / "monitoring" / "grafana_dashboard.json"


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
    assert b"SUCCESS: 13 rules found" in checked.stdout


def test_each_alert_fires_on_its_series_and_not_on_healthy_ones() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_the_rules_name_is_served(metrics_text: bytes) -> None:
    named = set(re.findall(r"\bca_[a-z_]+", RULES.read_text(encoding="utf-8")))
    families = set(re.findall(rb"^# TYPE (ca_[a-z_]+) ", metrics_text, re.MULTILINE))
    served = {f.decode() for f in families}
    served |= {f"{f}_total" for f in served}  # a counter's family is named without _total
    assert named and named <= served, sorted(named - served)


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_s_queries_are_promql(tmp_path: Path) -> None:
    """promtool has no query checker of its own: each panel's query becomes a recording
    rule, which `check rules` parses."""
    queries = _dashboard_queries()
    rules = tmp_path / "dashboard_rules.yml"
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": query} for n, query in enumerate(queries)
    ]}]}), encoding="utf-8")  # fmt: skip
    checked = promtool("check", "rules", rules)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found".encode() in checked.stdout


def test_every_metric_the_dashboard_shows_is_served(metrics_text: bytes) -> None:
    named = set(re.findall(r"\bca_[a-z_]+", " ".join(_dashboard_queries())))
    types = dict(re.findall(r"^# TYPE (ca_[a-z_]+) (\w+)", metrics_text.decode(), re.M))
    suffix = {"counter": "_total", "histogram": "_bucket"}
    served = set(types) | {name + suffix.get(kind, "") for name, kind in types.items()}
    assert named and named <= served, sorted(named - served)


def test_the_served_metrics_follow_prometheus_conventions(metrics_text: bytes) -> None:
    checked = promtool("check", "metrics", stdin=metrics_text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")

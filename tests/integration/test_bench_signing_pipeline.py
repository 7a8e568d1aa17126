"""loadtests/bench_signing_pipeline.py runs, for a fraction of a second per cell, so that
the benchmark of issue #16 (GOST 2012-256 through the pipeline against the engine's own
loop, beside P-256) cannot rot unnoticed. The numbers of so short a run mean nothing and
are not checked; that every row and the target line come out is."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "loadtests" / "bench_signing_pipeline.py"
ROW = r"\s+(1|2)\s+\d+/\d+\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\n"


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_issue16_reference_rows_for_p256_and_gost_2012_256_the_target_line_and_matrix() -> None:
    ran = run_bench(
        "--seconds", "0.1", "--repeats", "1", "--concurrency", "16", "--paramset", "tcb",
        "--gost512",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    engine = "C loop (engine_sign_loop.c" if shutil.which("cc") else "PYTHON LOOP, not the"
    assert f"engine/s = {engine}" in out
    for algorithm in ("ec-p256", "gost2012-256-tcb", "gost2012-512-a"):
        assert len(re.findall(algorithm + ROW, out)) == 2, out  # 1 and 2 signer processes
    assert re.search(
        r"^TARGET GOST 2012-256 \(TCB\), 1 signer process\(es\): \d+%\.\.\d+% of the "
        r"engine's loop; >= 80% in [01] of 1 repeats$",
        out,
        re.MULTILINE,
    ), out
    assert "ec-p256, 2 signer process(es):" in out
    assert "gost2012-512-a, 1 signer process(es):" in out
    matrix = out.split("\nmatrix: ", 1)[1]
    for algorithm in ("ec-p256", "rsa-2048"):  # batch limits 1, 8, 64 x 1 and 2 signers
        assert len(re.findall(rf"^software\s+{algorithm}\s+\d+\s+[12]\s", matrix, re.M)) == 6


def test_issue16_an_unknown_parameter_set_is_refused_by_name() -> None:
    ran = run_bench("--paramset", "TCZ")
    assert ran.returncode == 2
    assert ran.stderr.endswith("error: --paramset: one of A, B, C, TCA, TCB, TCC, TCD, XA, XB\n"), (
        ran.stderr
    )

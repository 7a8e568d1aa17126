"""Benchmark: how long each `python -m server` command takes to start and to finish.

    python loadtests/bench_cli_start.py [--runs N]

A CA home is made by `init`, one certificate issued from it. Then, for every command the
command line knows, `<command> --help` is run `--runs` times (its start: the interpreter,
the argument parser and the modules imported before the command's own code runs), and the
everyday read-only commands are run whole against the home (`ca-cert`, `list`, `show`,
`profiles`, `applications`, `audit verify`). Prints the median and the slowest wall time of
each, and `python -c pass` as the floor no command can go below. Every run has its bytecode
caches, as an installed package does (the first, untimed, writes them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.bench_issuance import init_home
from server.cli.parser import build_parser

# Bytecode caches written and read (in a folder of their own), as for an installed package,
# whatever PYTHONDONTWRITEBYTECODE the benchmark itself runs with.
AS_INSTALLED = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": os.path.join(tempfile.gettempdir(), "bench-cli-start-pycache"),
}
RUN_WHOLE = (
    ("ca-cert",),
    ("list",),
    ("show", "--serial", "{serial}"),
    ("profiles",),
    ("applications",),
    ("audit", "verify"),
)


def timed(args: list[str], runs: int) -> tuple[float, float]:
    """(median, slowest) wall seconds of `runs` runs of `args` after one untimed run (which
    writes the bytecode caches, as an installed package has them); each must succeed."""
    subprocess.run(args, check=True, capture_output=True, env=AS_INSTALLED)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=AS_INSTALLED)
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def command_names() -> list[str]:
    """Every command of the command line, in the order `--help` lists them."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(subparsers.choices)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=5)
    runs = options.parse_args().runs
    cli = [sys.executable, "-m", "server"]
    print(f"{'command':34} {'median s':>9} {'max s':>7}")
    median, slowest = timed([sys.executable, "-c", "pass"], runs)
    print(f"{'(python -c pass)':34} {median:9.3f} {slowest:7.3f}")
    median, slowest = timed([*cli, "--help"], runs)
    print(f"{'--help':34} {median:9.3f} {slowest:7.3f}")
    for name in command_names():
        median, slowest = timed([*cli, name, "--help"], runs)
        print(f"{name + ' --help':34} {median:9.3f} {slowest:7.3f}")
    with tempfile.TemporaryDirectory() as folder:
        init_home(Path(folder), "soft")
        home = str(Path(folder) / "ca")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{folder}/k.pem",
                        "-subj", "/CN=bench", "-out", f"{folder}/r.pem"],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run([*cli, "issue", "--home", home, "--profile", "tls-client", "--csr",
                        f"{folder}/r.pem"], check=True, capture_output=True)  # fmt: skip
        listed = subprocess.run([*cli, "list", "--home", home], check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        serial = listed.split()[0]
        for command in RUN_WHOLE:
            args = [part.format(serial=serial) for part in command]
            median, slowest = timed([*cli, args[0], "--home", home, *args[1:]], runs)
            label = " ".join(part for part in command if not part.startswith(("-", "{")))
            print(f"{label + ' (whole)':34} {median:9.3f} {slowest:7.3f}")


if __name__ == "__main__":
    main()

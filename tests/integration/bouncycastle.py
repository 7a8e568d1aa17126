"""Bouncy Castle clients (Debian's libbcprov/libbcpkix/libbcutil-java 1.72) for the
integration tests: every source in tests/integration/java/ compiled once with javac, run
with `java -cp`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JARS = [f"/usr/share/java/{name}.jar" for name in ("bcprov", "bcpkix", "bcutil")]
SOURCES = sorted((Path(__file__).parent / "java").glob("*.java"))


def compile_clients(classes: Path) -> str:
    """Compile the clients into `classes`; returns the class path to run them with."""
    missing = [jar for jar in JARS if not Path(jar).exists()]
    assert not missing, f"Bouncy Castle is not installed (scripts/setup.sh installs it): {missing}"
    assert shutil.which("javac"), "javac is not installed"
    built = subprocess.run(["javac", "-d", str(classes), "-cp", ":".join(JARS), *map(str, SOURCES)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return ":".join([str(classes), *JARS])


def run_client(classpath: str, client: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", classpath, client, *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip

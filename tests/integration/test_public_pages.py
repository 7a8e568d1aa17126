"""The public page as a person's browser shows it (issue #18): a running server's `/`
rendered by headless Chromium (Debian's `chromium`, scripts/setup.sh). The screenshot is
kept as the test's artefact (its path printed); the DOM Chromium built holds the CA
certificate's SHA-256 thumbprint and a search's answer; Chromium reports no violation of
the page's Content-Security-Policy, so its inline style is the one the hash allows."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from server.web.pages.render import thumbprint
from tests.integration.cli import run_cli
from tests.integration.conftest import CAHome
from tests.integration.server_process import ServerProcess, http

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = CAHome(tmp_path_factory.mktemp("public-page") / "ca")
    run_cli("init", "--home", home.path, "--subject", "CN=Тестовый УЦ,O=Test,C=RU")
    running = ServerProcess(home)
    try:
        yield running
    finally:
        running.stop()


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("chromium"), "chromium is not installed (scripts/setup.sh installs it)"
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_public_page_in_chromium_shows_the_ca_thumbprint(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("public-page-artefact")
    certificate = http(f"{server.url}/ca/demo.crt")
    assert certificate.status == 200
    expected = thumbprint(hashlib.sha256(certificate.body).digest())

    screenshot = folder / "public-page.png"
    shot = chromium(folder / "profile", f"--screenshot={screenshot}", "--window-size=1200,1600",
                    f"{server.url}/?lang=ru")  # fmt: skip
    assert shot.returncode == 0, shot.stderr
    print(f"public page screenshot: {screenshot}")
    png = screenshot.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])  # IHDR, the first chunk
    assert (width, height) == (1200, 1600)
    assert len(png) > 30_000, "a blank page compresses to a few kilobytes"
    assert "Content Security Policy" not in shot.stderr

    dom = chromium(folder / "profile", "--dump-dom", f"{server.url}/?lang=en")
    assert dom.returncode == 0, dom.stderr
    assert expected in dom.stdout
    assert "CN=Тестовый УЦ, O=Test, C=RU" in dom.stdout
    assert "Content Security Policy" not in dom.stderr

    query = quote("тестовый уц")  # the CA certificate's CN, in another case
    found = chromium(folder / "profile", "--dump-dom",
                     f"{server.url}/search?by=name&q={query}&lang=ru")  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "Найдено: 1" in found.stdout and "CN=Тестовый УЦ, O=Test, C=RU" in found.stdout

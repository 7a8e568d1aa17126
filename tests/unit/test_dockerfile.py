"""The Docker image installs what the server loads at run time from Debian's packages.
(No Docker engine runs here to build it; the README's setup installs the same packages.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUNTIME_PACKAGES = (
    "openssl",  # the system libcrypto that hsm/gost_engine.py loads
    "libengine-gost-openssl",  # GOST keys, requests and OCSP CertIDs (hsm/gost_engine.py)
    "softhsm2",  # the default PKCS#11 module (config/settings.py)
    "fonts-dejavu-core",  # paper copies and confirmation reports (server/paper/fonts.py)
)


def installed_by_dockerfile() -> set[str]:
    text = (ROOT / "Dockerfile").read_text()
    command = re.search(r"apt-get install ([^&]*)", text.replace("\\\n", " "))
    assert command, "the Dockerfile installs no Debian package"
    return {word for word in command.group(1).split() if not word.startswith("-")}


def test_the_image_installs_every_debian_package_the_server_loads() -> None:
    assert set(RUNTIME_PACKAGES) <= installed_by_dockerfile()


def test_the_readme_setup_installs_them_too() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installed = {p for group in re.findall(r"missing\+=\(([^)]*)\)", setup) for p in group.split()}
    assert set(RUNTIME_PACKAGES) <= installed

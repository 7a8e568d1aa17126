#!/usr/bin/env bash
# Installs what the project needs on a Debian machine: softhsm2, openssl and its GOST engine
# (apt-get, only when missing) and a virtual environment in .venv with the project and its
# test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# OpenSSL's GOST engine (gost.so in ENGINESDIR): GOST R 34.10-2012 signing and Streebog.
openssl engine gost >/dev/null 2>&1 || missing+=(libengine-gost-openssl)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# What scripts/build_softhsm_gost.sh builds SoftHSM2 with GOST for the tests with.
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -f /usr/include/openssl/evp.h ] || missing+=(libssl-dev)
# The paper copy of a certificate (server/paper): a TrueType font with Cyrillic, and the
# tests read its PDF back with pdftotext and render it with pdftoppm.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# Prometheus' promtool: the tests check the shipped alert rules and the served metrics.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# Headless Chromium: the tests render the public page and keep a screenshot of it.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# PostgreSQL's initdb and pg_ctl: the tests start their own throwaway cluster.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# Test clients we did not write: Bouncy Castle's EST client (Java) and a JDK to build it.
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
for jar in bcprov bcpkix bcutil; do
    [ -f "/usr/share/java/$jar.jar" ] || missing+=("lib$jar-java")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Install again only when pyproject.toml changed since the last install.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    if ! { .venv/bin/python -m pip install -q --upgrade pip \
           && .venv/bin/python -m pip install -q -e '.[test]'; } >.venv/pip.log 2>&1; then
        cat .venv/pip.log
        echo "setup: pip install failed" >&2
        exit 1
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
fi
bash scripts/build_softhsm_gost.sh
echo "setup: ready (.venv)"

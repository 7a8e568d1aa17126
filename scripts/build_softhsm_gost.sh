#!/usr/bin/env bash
# Builds SoftHSM2 with its GOST mechanisms into .venv/softhsm2-gost, for the tests of the
# PKCS#11 backend's GOST R 34.10-2012 path (hsm/pkcs11_gost.py). Debian's softhsm2 package
# is built without them (--disable-gost); this is the same upstream source, taken from
# Debian's archive with `apt-get source` (the archive's signed index checks its hash) and
# configured with --enable-gost, which signs through OpenSSL's GOST engine. Nothing here is
# for production: a CA keeps GOST keys in a real token or in the soft backend.
# Needs a C++ compiler, make, pkg-config and libssl-dev (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$PWD/.venv/softhsm2-gost"
done_stamp="$prefix/.built"  # written last: a build stopped half way is made again
if [ -f "$done_stamp" ]; then
    exit 0
fi
work="$(mktemp -d)"
stage="$(mktemp -d -p "$PWD/.venv")"  # on the same file system as $prefix
trap 'rm -rf "$work" "$stage"' EXIT

# A private apt state that knows Debian's source index, so that the machine's own lists
# are neither needed nor changed: the archive is the machine's own Debian mirror (its first
# deb822 or sources.list entry), deb.debian.org if none is found.
codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
mirror="$(
    { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
      grep -hs '^deb ' /etc/apt/sources.list || true; } \
        | awk '$2 !~ /-security/ {print $2; exit}'
)"
mirror="${mirror:-http://deb.debian.org/debian}"
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
cat >"$work/parts/debian-src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_options=(
    -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=$(id -un)"
    -o "APT::Update::Post-Invoke::=" -o "APT::Update::Post-Invoke-Success::="
)
echo "setup: building SoftHSM2 with GOST for the tests (.venv/softhsm2-gost)"
apt-get "${apt_options[@]}" update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
(cd "$work/src" && apt-get "${apt_options[@]}" source --download-only --tar-only -qq softhsm2) \
    >>"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
tar -xzf "$work"/src/softhsm2_*.orig.tar.gz -C "$work/src"
cd "$work"/src/softhsm2-*/
if ! { ./configure --prefix="$prefix" --enable-gost --disable-p11-kit \
           --with-crypto-backend=openssl \
       && make -j"$(nproc)" \
       && make install DESTDIR="$stage"; } >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log"
    echo "setup: SoftHSM2 build failed" >&2
    exit 1
fi
grep -q "GOST support... yes" "$work/build.log" \
    || { echo "setup: SoftHSM2 was built without GOST (is the GOST engine installed?)" >&2; exit 1; }
rm -rf "$prefix"
mv "$stage$prefix" "$prefix"
touch "$done_stamp"

#!/usr/bin/env bash
# One command: set everything up, create a demo CA home (once) and serve it on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HOME_DIR="${CA_HOME:-demo-ca}"
if [ ! -f "$HOME_DIR/settings.toml" ]; then
    .venv/bin/python -m server init --home "$HOME_DIR"
fi
exec .venv/bin/python -m server serve --home "$HOME_DIR" "$@"

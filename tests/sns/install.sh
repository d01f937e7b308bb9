#!/usr/bin/env bash
# Installs moto's server (tests/sns/requirements.txt, pinned) into tests/sns/.venv, when missing
# or changed (non-interactive). The Rust test `carriers::sns::publish_reaches_moto_…` of
# textid-sms starts tests/sns/.venv/bin/moto_server on a free loopback port (it binds port 0)
# and publishes to it through the real SNS provider; without this venv it skips, except
# under CI=true, where it fails. scripts/test runs this before the Rust tests.
# Env: PYTHON (the interpreter for the venv; default python3.11, else python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

venv="$root/tests/sns/.venv"
req="$root/tests/sns/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/moto_server" ]] || ! "$venv/bin/python" -c 'import moto.server' 2>/dev/null \
  || [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
  fi
  echo "creating $venv with $("$python" --version 2>&1) and installing tests/sns/requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$req"
  echo "$want" >"$stamp"
fi
echo "moto_server: $venv/bin/moto_server ($("$venv/bin/python" -c 'import moto; print("moto", moto.__version__)'))"

#!/usr/bin/env bash
# textid's Graph-compatible admin API (/v1.0) driven by the official Microsoft Graph Python SDK
# (msgraph-sdk) against the real `textid serve` on loopback (issue #4's acceptance test).
# Creates tests/graph/.venv and installs the pinned requirements when missing or changed
# (non-interactive), reuses the debug build of textid, and runs tests/graph/scenario.py, whose
# last line is `N passed, N failed` (exit 1 on any failure).
# Env: ARTIFACTS_DIR (default ./artifacts: the server log, logs/graph-textid.log), TEXTID_BIN,
# PYTHON (the interpreter for the venv; default python3.11, else python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

# scripts/test has built it in its Rust step: reuse that build (after changing Rust code,
# run this script through scripts/test or rebuild first).
export TEXTID_BIN="${TEXTID_BIN:-$root/target/debug/textid}"
if [[ ! -x "$TEXTID_BIN" ]]; then
  cargo build --locked -p textid
fi

ARTIFACTS_DIR="$(realpath -m "${ARTIFACTS_DIR:-artifacts}")"
export ARTIFACTS_DIR
mkdir -p "$ARTIFACTS_DIR"

venv="$root/tests/graph/.venv"
req="$root/tests/graph/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
  || [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
  fi
  echo "creating $venv with $("$python" --version 2>&1) and installing tests/graph/requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$req"
  echo "$want" >"$stamp"
fi

export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" "$root/tests/graph/scenario.py"

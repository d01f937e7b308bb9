#!/usr/bin/env bash
# textid's SCIM 2.0 provisioning (/{tenant}/scim/v2, issue #16) against the real `textid serve`
# on loopback: the scim2-tester conformance checker (conformance.py) for Users and Groups,
# then an Entra-style provisioning scenario written with scim2-client (scenario.py) whose
# effects on phone numbers (seed 003) are read back through the Graph API.
# Creates tests/scim/.venv and installs the pinned requirements when missing or changed
# (non-interactive), reuses the debug build of textid. Each script's last line is
# `N passed, N failed`; this script's is their sum, and it exits 1 on any failure.
# Env: ARTIFACTS_DIR (server logs go to ARTIFACTS_DIR/logs), TEXTID_BIN, PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

# scripts/test has built it in its Rust step: reuse that build.
export TEXTID_BIN="${TEXTID_BIN:-$root/target/debug/textid}"
if [[ ! -x "$TEXTID_BIN" ]]; then
  cargo build --locked -p textid
fi

venv="$root/tests/scim/.venv"
req="$root/tests/scim/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
  || [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
  fi
  echo "creating $venv with $("$python" --version 2>&1) and installing tests/scim/requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$req"
  echo "$want" >"$stamp"
fi

export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
passed=0 failed=0 status=0
for script in conformance.py scenario.py; do
  echo "--- tests/scim/$script"
  out="$(mktemp)"
  "$venv/bin/python" "$root/tests/scim/$script" | tee "$out" || status=1
  if last="$(tail -n 1 "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$')"; then
    passed=$((passed + ${last%% *}))
    f="${last#*, }"
    failed=$((failed + ${f%% *}))
  else
    failed=$((failed + 1))
    status=1
  fi
  rm -f "$out"
done
echo "$passed passed, $failed failed"
exit "$status"

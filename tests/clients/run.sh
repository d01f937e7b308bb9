#!/usr/bin/env bash
# textid against real clients: openid-client (a certified OpenID Connect relying party) over
# plain HTTP, and Debian's headless Chromium driven by playwright-core. Installs what it needs
# on a fresh machine (Chromium from apt, the npm packages from package-lock.json), reuses the
# debug build of textid, and runs both suites with node's test runner.
# Env: ARTIFACTS_DIR (default ./artifacts: screenshots and server logs), TEXTID_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "installing Chromium from Debian (apt-get)"
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo -n); fi # never prompts: fails without rights
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# scripts/test has built it in its Rust step: reuse that build (after changing Rust code,
# run this script through scripts/test or rebuild first).
export TEXTID_BIN="${TEXTID_BIN:-$root/target/debug/textid}"
if [[ ! -x "$TEXTID_BIN" ]]; then
  cargo build --locked -p textid
fi

ARTIFACTS_DIR="$(realpath -m "${ARTIFACTS_DIR:-artifacts}")"
export ARTIFACTS_DIR
mkdir -p "$ARTIFACTS_DIR"

cd tests/clients
npm ci --no-audit --no-fund --loglevel=error
npm test

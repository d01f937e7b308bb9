#!/usr/bin/env bash
# The OpenAPI document of the admin API (docs/openapi/graph-v1.yaml) against the real server:
#   1. drift: the document is valid OpenAPI 3.0 and names exactly the routes of
#      crates/textid-server/src/graph/mod.rs, and the running server serves every documented
#      operation and refuses every other method on those paths (check_drift.py);
#   2. fuzzing: schemathesis runs every operation with an app token holding every permission
#      and fails on any 5xx, any undocumented status code, any response that breaks its
#      schema, content type or documented headers.
# Installs what it needs on a fresh machine (a virtualenv in tests/openapi/.venv from
# requirements.txt) and reuses the debug build of textid. Talks to 127.0.0.1 only. The last
# line it prints is `N passed, N failed`; it exits non-zero on any failure.
# Env: TEXTID_BIN (default target/debug/textid), ARTIFACTS_DIR (default ./artifacts: the server
# log and schemathesis's output and JUnit report land in $ARTIFACTS_DIR/openapi),
# PYTHON (the interpreter for the venv; default python3.11, else python3),
# OPENAPI_MAX_EXAMPLES (default 30 per operation), OPENAPI_CHECKS (default below), OPENAPI_SEED
# (the generator's seed: replay a run; under CI a fixed one, otherwise a random one, printed
# either way), OPENAPI_SCHEMATHESIS_ARGS (more options for `schemathesis run`).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
here="$root/tests/openapi"

bin="${TEXTID_BIN:-$root/target/debug/textid}"
max_examples="${OPENAPI_MAX_EXAMPLES:-30}"
checks="${OPENAPI_CHECKS:-not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance}"
artifacts="$(realpath -m "${ARTIFACTS_DIR:-artifacts}")/openapi"
# Nothing from the caller's environment steers the server (a TEXTID_SMS_WEBHOOK_URL would send
# the seeded sign-in codes out) or the HTTP clients (proxies): loopback only.
for v in $(compgen -e); do
  case "$v" in TEXTID_* | http_proxy | https_proxy | all_proxy | HTTP_PROXY | HTTPS_PROXY | ALL_PROXY) unset "$v" ;; esac
done
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

work="$(mktemp -d)"
server_pid=""
drain_pid=""
summarized=0
start=$SECONDS

stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  if [[ -n "$drain_pid" ]]; then
    wait "$drain_pid" 2>/dev/null || true
    drain_pid=""
  fi
}

finish() {
  local status=$?
  set +e
  stop_server
  mkdir -p "$artifacts"
  cp -f "$work"/server.log "$work"/schemathesis.out "$work"/junit-*.xml "$artifacts"/ 2>/dev/null
  if [[ $summarized -eq 0 ]]; then
    echo "openapi: stopped before the checks ran (exit $status); the server log is in $artifacts"
    [[ -f "$work/server.log" ]] && tail -n 20 "$work/server.log"
    echo "0 passed, 1 failed"
    status=1
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT

# Python packages: a virtualenv, rebuilt when requirements.txt changes or its interpreter is gone.
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
  || [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
  fi
  echo "openapi: creating tests/openapi/.venv with $("$python" --version 2>&1) and installing requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --requirement "$here/requirements.txt"
  echo "$want" >"$stamp"
fi
py="$venv/bin/python"

# scripts/test has built it in its Rust step: reuse that build.
if [[ ! -x "$bin" ]]; then
  cargo build --locked -p textid
fi

port="$("$py" "$here/fixtures.py" free-port)"
base="http://127.0.0.1:$port"
mkdir -p "$work/data"
mkfifo "$work/server.out"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --public-url "$base" \
  >"$work/server.out" 2>&1 </dev/null &
server_pid=$!
exec 3<"$work/server.out"
ready=0
while IFS= read -r -t 60 line <&3; do
  printf '%s\n' "$line" >>"$work/server.log"
  if [[ "$line" == "textid listening on"* ]]; then
    ready=1
    break
  fi
done
if [[ $ready -ne 1 ]]; then
  echo "openapi: textid serve did not say 'textid listening on'"
  exit 1
fi
cat <&3 >>"$work/server.log" &
drain_pid=$!
exec 3<&-
echo "openapi: textid serve listens on $base"

"$bin" --data-dir "$work/data" client create --name admin --grant client_credentials \
  --role User.ReadWrite.All --role Group.ReadWrite.All \
  --role UserAuthenticationMethod.ReadWrite.All \
  --role Policy.ReadWrite.AuthenticationMethod --role AuditLog.Read.All \
  --json </dev/null >"$work/client.json"
token="$("$py" "$here/fixtures.py" token "$base" "$work/client.json")"

echo
echo "== drift: docs/openapi/graph-v1.yaml against graph/mod.rs and the running server"
drift_ok=1
"$py" "$here/check_drift.py" "$root/docs/openapi/graph-v1.yaml" \
  "$root/crates/textid-server/src/graph/mod.rs" "$base" "$work/drift.json" || drift_ok=0

cp "$here/schemathesis.toml" "$work/"
"$py" "$here/fixtures.py" seed "$base" "$token" "$work"
# One seed for both passes, always given and printed: CI runs the same examples every
# time (a failure there is the code's, not the dice's), and a local failure can be replayed.
# schemathesis 4 has `--seed` only (its `--hypothesis-seed` went away in 4.0).
if [[ -n "${OPENAPI_SEED:-}" ]]; then
  seed="$OPENAPI_SEED"
elif [[ -n "${CI:-}" && "${CI:-}" != "false" && "${CI:-}" != "0" ]]; then
  seed=190019
else
  seed=$(((RANDOM << 15) | RANDOM))
fi
echo "openapi: schemathesis seed $seed (replay with OPENAPI_SEED=$seed tests/openapi/run.sh)"
extra_args=(--seed "$seed")
# Word-split on purpose: e.g. OPENAPI_SCHEMATHESIS_ARGS="--report har --report-dir $PWD/har".
read -r -a more <<<"${OPENAPI_SCHEMATHESIS_ARGS:-}"
extra_args+=("${more[@]}")
fuzz_ok=1
fuzz() { # NAME [schemathesis run options...]
  local name="$1"
  shift
  echo
  echo "== schemathesis ($name): $checks; $max_examples examples per operation"
  (
    cd "$work"
    OPENAPI_BASE="$base" OPENAPI_TOKEN="$token" SCHEMATHESIS_HOOKS="$here/hooks.py" \
      timeout --kill-after=10 600 "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" \
      run "$root/docs/openapi/graph-v1.yaml" \
      --checks "$checks" --max-examples "$max_examples" --max-response-time 10 \
      --no-color --report junit --report-junit-path "$work/junit-$name.xml" "$@" "${extra_args[@]}" \
      </dev/null
  ) 2>&1 | tee -a "$work/schemathesis.out" || fuzz_ok=0
}
# Pass 1 keeps the seeded policy (SMS and Temporary Access Passes on, for everyone), so that
# the method operations get past "not allowed by the policy"; pass 2 fuzzes everything,
# the policy's configurations included.
fuzz directory --exclude-operation-id updateAuthenticationMethodConfiguration \
  --exclude-operation-id resetAuthenticationMethodConfiguration
fuzz all

stop_server
if [[ $drift_ok -ne 1 || $fuzz_ok -ne 1 ]]; then
  echo "openapi: server log, schemathesis output and report: $artifacts"
fi
echo "openapi: $((SECONDS - start)) s"
summarized=1
"$py" "$here/summarize.py" "$work/drift.json" "$work/junit-directory.xml" "$work/junit-all.xml"

"""No drift between docs/openapi/graph-v1.yaml and the /v1.0 routes of textid.

  check_drift.py SPEC ROUTES_RS BASE RESULT_JSON

1. The document is valid OpenAPI 3.0 (openapi-spec-validator).
2. Source: the (path template, method) pairs of the document equal those of the routes in
   ROUTES_RS (crates/textid-server/src/graph/mod.rs), `{param}` names normalised.
3. The running server at BASE (http://127.0.0.1:PORT) routes every documented operation:
   without a token each one answers 401 InvalidAuthenticationToken with WWW-Authenticate,
   never the generic 404 `no such endpoint` nor 405; and on each documented path every
   undocumented method answers 405 methodNotAllowed. A control path under /v1.0 that no
   route serves must answer the generic 404, so that the probes above mean something.

Prints one line per check and writes {"passed": N, "failed": N} to RESULT_JSON.
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml
from openapi_spec_validator import validate

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods probed for 405 on every documented path (HEAD follows GET in axum; TRACE is left out).
PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}{': ' + detail if detail else ''}")


def normalise(template):
    return re.sub(r"\{[^}/]*\}", "{}", template)


def spec_operations(spec):
    """{(normalised full path, METHOD): document path} with the servers' base path."""
    server = spec["servers"][0]
    url = server["url"]
    for name, var in server.get("variables", {}).items():
        url = url.replace("{" + name + "}", var["default"])
    base = urllib.parse.urlsplit(url).path.rstrip("/")
    ops = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                ops[(normalise(base + path), method.upper())] = path
    return base, ops


def source_routes(text):
    """{(normalised path, METHOD)} of every `.route("...", ...)` call in an axum router."""
    routes = set()
    for m in re.finditer(r'\.route\(\s*"([^"]+)"', text):
        depth, end = 1, m.end()
        while depth and end < len(text):  # to the call's closing parenthesis
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        handlers = text[m.end() : end]
        for method in re.findall(
            r"(?:^|[\s.(]|routing::)(get|post|put|patch|delete|head|options|trace)\(", handlers
        ):
            routes.add((normalise(m.group(1)), method.upper()))
    return routes


def request(method, url):
    req = urllib.request.Request(url, method=method, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    try:
        with opener.open(req, timeout=30) as res:
            status, headers, raw = res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return status, headers, body


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def error_code(body):
    return (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None


def main(spec_path, routes_path, base_url, result_path):
    url = urllib.parse.urlsplit(base_url)
    if url.scheme != "http" or url.hostname != "127.0.0.1":
        sys.exit(f"refusing {base_url!r}: the checks only talk to http://127.0.0.1")
    c = Checks()
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    try:
        validate(spec)
        c.check(True, "the document is valid OpenAPI 3.0")
    except Exception as e:  # noqa: BLE001 - any validation error is the failure
        c.check(False, "the document is valid OpenAPI 3.0", str(e).splitlines()[0])

    base, documented = spec_operations(spec)
    with open(routes_path) as f:
        served = source_routes(f.read())
    c.check(bool(served), f"routes found in {routes_path}", "none: has the router's shape changed?")
    for key in sorted(served - set(documented)):
        c.check(False, f"{key[1]} {key[0]} is served but not in the document")
    for key in sorted(set(documented) - served):
        c.check(False, f"{key[1]} {key[0]} is in the document but not among the routes")
    c.check(
        set(documented) == served,
        f"document and routes name the same {len(served)} operations",
        f"{len(set(documented) ^ served)} differ",
    )

    # The running server routes every documented operation, and only those methods.
    paths = {}
    for (_, method), path in documented.items():
        paths.setdefault(path, set()).add(method)
    for path in sorted(paths):
        concrete = base_url.rstrip("/") + base + re.sub(r"\{[^}/]*\}", "drift-probe", path)
        for method in PROBED:
            status, headers, body = request(method, concrete)
            got = f"{status} {error_code(body)}"
            if method in paths[path]:
                ok = (
                    status == 401
                    and error_code(body) == "InvalidAuthenticationToken"
                    and headers.get("WWW-Authenticate", "").startswith("Bearer ")
                )
                c.check(ok, f"{method} {base}{path} is served and needs a token", f"got {got}")
            else:
                ok = status == 405 and error_code(body) == "methodNotAllowed"
                c.check(ok, f"{method} {base}{path} is not served (405)", f"got {got}")
    status, _, body = request("GET", f"{base_url.rstrip('/')}{base}/drift-probe-no-such-endpoint")
    c.check(
        status == 404 and (body or {}).get("error", {}).get("message") == "no such endpoint",
        f"control: GET {base}/drift-probe-no-such-endpoint is the generic 404",
        f"got {status} {body}",
    )

    print(f"drift: {c.passed} passed, {c.failed} failed")
    with open(result_path, "w") as f:
        json.dump({"passed": c.passed, "failed": c.failed}, f)
    return 1 if c.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))

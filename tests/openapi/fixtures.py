"""Fixtures for the OpenAPI checks of the /v1.0 admin API, against a running textid.

  fixtures.py free-port
      prints a free TCP port on 127.0.0.1
  fixtures.py token BASE CLIENT_JSON
      prints an app access token (client credentials, HTTP Basic) for the client that
      `textid client create --json` printed into CLIENT_JSON
  fixtures.py seed BASE TOKEN OUT_DIR
      creates users, phone methods, groups, Temporary Access Passes and sign-in log
      entries through the API itself, so that path parameters have real values and every
      response schema (logs included) meets real data; writes their ids as schemathesis
      dictionaries (NAME.dict, one JSON string per line) into OUT_DIR

Only the standard library: this runs before and beside the virtualenv alike. BASE is the
server's public URL (http://127.0.0.1:PORT); anything else is refused.
"""

import base64
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

TENANT = "default"


def require_loopback(base):
    u = urllib.parse.urlsplit(base)
    if u.scheme != "http" or u.hostname != "127.0.0.1":
        sys.exit(f"refusing {base!r}: the checks only talk to http://127.0.0.1")


def call(method, url, token=None, body=None, form=None, basic=None, expect=None):
    """One request; returns (status, parsed JSON or None). `expect` asserts the status."""
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        raw = f"{urllib.parse.quote(basic[0])}:{urllib.parse.quote(basic[1])}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    parsed = json.loads(raw) if raw else None
    if expect is not None and status != expect:
        sys.exit(f"{method} {url}: expected {expect}, got {status}: {raw[:500]!r}")
    return status, parsed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def token(base, client_json):
    require_loopback(base)
    with open(client_json) as f:
        client = json.load(f)
    _, body = call(
        "POST",
        f"{base}/{TENANT}/oauth2/v2.0/token",
        form={"grant_type": "client_credentials"},
        basic=(client["clientId"], client["clientSecret"]),
        expect=200,
    )
    print(body["access_token"])


def seed(base, tok, out_dir):
    require_loopback(base)
    g = f"{base}/v1.0"
    cfg = f"{g}/policies/authenticationMethodsPolicy/authenticationMethodConfigurations"
    # SMS on and usable for sign-in by everyone; Temporary Access Passes on.
    call("PATCH", f"{cfg}/Sms", tok, {"state": "enabled"}, expect=204)
    call("PATCH", f"{cfg}/TemporaryAccessPass", tok, {"state": "enabled"}, expect=204)

    def user(name, *phones):
        upn = f"{name.lower()}@contoso.example"
        _, u = call("POST", f"{g}/users", tok, {"userPrincipalName": upn, "displayName": name}, expect=201)
        for phone_type, number in phones:
            body = {"phoneType": phone_type, "phoneNumber": number}
            call("POST", f"{g}/users/{u['id']}/authentication/phoneMethods", tok, body, expect=201)
        return u

    def group(name, *members):
        _, grp = call("POST", f"{g}/groups", tok, {"displayName": name}, expect=201)
        for m in members:
            ref = {"@odata.id": f"{g}/directoryObjects/{m['id']}"}
            call("POST", f"{g}/groups/{grp['id']}/members/$ref", tok, ref, expect=204)
        return grp

    def tap(u):
        url = f"{g}/users/{u['id']}/authentication/temporaryAccessPassMethods"
        return call("POST", url, tok, {}, expect=201)[1]

    three = [("mobile", "+1 425 555 0102"), ("alternateMobile", "+1 425 555 0103"), ("office", "+1 425 555 0104 x12")]
    ana = user("Ana", ("mobile", "+1 425 555 0101"))
    ben = user("Ben", *three)
    cy = user("Cy")
    dee, eli = user("Dee", ("mobile", "+1 425 555 0105")), user("Eli")
    fay = user("Fay", ("mobile", "+1 425 555 0106"), ("alternateMobile", "+1 425 555 0107"), ("office", "+1 425 555 0108"))
    gus = user("Gus", ("mobile", "+1 425 555 0109"))
    frontline = group("Frontline", ana, ben)
    temp = group("Temporary", cy)
    ana_tap, fay_tap, gus_tap = tap(ana), tap(fay), tap(gus)

    # Sign-in log entries: a request for a known number, one for nobody's, a wrong code.
    sms = f"{base}/{TENANT}/api/v1/sign-in/sms"
    _, flow = call("POST", sms, body={"phoneNumber": "+1 425 555 0101"}, expect=202)
    call("POST", sms, body={"phoneNumber": "+1 425 555 0199"}, expect=202)
    status, _ = call("POST", f"{sms}/verify", body={"flowId": flow["flowId"], "code": "000000"})
    if status not in (200, 400):
        sys.exit(f"sign-in verify: unexpected {status}")

    dictionaries = {
        "users": [ana["id"], ben["id"], cy["userPrincipalName"]],
        "groups": [frontline["id"]],
        "passes": [ana_tap["id"]],
        "doomed-users": [dee["id"], eli["userPrincipalName"]],
        "doomed-groups": [temp["id"]],
        "method-owners": [fay["id"], gus["userPrincipalName"]],
        "doomed-passes": [fay_tap["id"], gus_tap["id"]],
        # Free numbers, a taken one (Ana signs in with it) and an office number with extension.
        "phone-numbers": ["+1 425 555 0120", "+44 20 7946 0958", "+1 425 555 0101", "+1 425 555 0121 x7"],
    }
    for name, values in dictionaries.items():
        with open(os.path.join(out_dir, f"{name}.dict"), "w") as f:
            f.writelines(json.dumps(v) + "\n" for v in values)


def main(argv):
    if argv[:1] == ["free-port"]:
        return free_port()
    if argv[:1] == ["token"] and len(argv) == 3:
        return token(argv[1], argv[2])
    if argv[:1] == ["seed"] and len(argv) == 4:
        return seed(argv[1], argv[2], argv[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

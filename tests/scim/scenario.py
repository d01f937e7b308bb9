#!/usr/bin/env python3
"""What Entra's provisioning service does to textid, written with scim2-client.

Starts the real `textid serve` on a fresh data directory, registers a provisioning app
(`Provisioning.ReadWrite.All`) and an admin app (Graph) with the CLI, switches SMS sign-in
on for all users, then provisions as Entra does: a matching query by userName, a create
with Entra's attribute mapping (work and mobile phoneNumbers, the enterprise extension),
PATCH operations in Entra's form (`Replace` with value-filter paths, `active` as the
string "False"), a group with Entra's member PATCHes, and a delete. Seed 003's effects are
read back through the Graph API: a public number copied into the empty authentication
number (rule 1), both changing while equal (rule 2), a differing authentication number
left alone (rule 3), a deleted public number keeping the authentication number (rule 4),
and another user's sign-in number never copied, audited instead.

Creates are built with the models scim2-client derives from textid's published schemas;
PATCH bodies are sent as dictionaries, word for word what Entra sends; every answer is
validated by scim2-client against those schemas. The last
line is `N passed, N failed`; the exit status is 1 if any check failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient

from harness import Checks, Server, app_token, http_json, main

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OFFICE_ID = "e37fc753-ff3b-4958-9484-eaa9425c82bc"


class Graph:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return http_json(method, f"{self.base}/v1.0{path}", body,
                         {"Authorization": f"Bearer {self.token}"})

    def methods(self, user_id: str) -> dict[str, str]:
        status, body = self("GET", f"/users/{user_id}/authentication/phoneMethods")
        if status != 200:
            raise RuntimeError(f"phoneMethods: {status} {body}")
        return {m["phoneType"]: m["phoneNumber"] for m in body["value"]}


def entra_user(upn: str, external_id: str, mobile: str, work: str) -> dict[str, Any]:
    """A create in the shape of Entra's default attribute mapping."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": upn,
        "active": True,
        "displayName": "Rosa Diaz",
        "emails": [{"primary": True, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Rosa Diaz", "familyName": "Diaz", "givenName": "Rosa"},
        "phoneNumbers": [{"type": "work", "value": work}, {"type": "mobile", "value": mobile}],
        "title": "Dispatcher",
        ENTERPRISE: {"employeeNumber": "70412", "department": "Operations"},
    }


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": path, "value": value}]}


def patch(scim: SyncSCIMClient, model: Any, id: str, body: dict[str, Any]) -> Any:
    """A PATCH exactly as Entra words it: a dictionary is sent as it is; the answer is
    validated against the model."""
    return scim.modify(model, id, body)


def run(server: Server, data_dir: Path, c: Checks) -> None:
    token = app_token(server.base, data_dir, "entra-provisioning", ["Provisioning.ReadWrite.All"])
    graph = Graph(server.base, app_token(server.base, data_dir, "admin", [
        "User.ReadWrite.All", "Group.Read.All", "UserAuthenticationMethod.ReadWrite.All",
        "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All"]))
    status, body = graph("PATCH", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms", {
        "@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "enabled",
        "includeTargets": [{"targetType": "group", "id": "all_users", "isUsableForSignIn": True}]})
    c.check("SMS sign-in on for all users (Graph)", status == 204, f"{status} {body}")

    http = httpx2.Client(base_url=f"{server.base}/default/scim/v2",
                         headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30)
    scim = SyncSCIMClient(http)
    scim.discover()
    User = scim.get_resource_model("User")
    Group = scim.get_resource_model("Group")
    c.check("discovery: User with the enterprise extension, and Group", User is not None and Group is not None)

    upn = "rosa@contoso.example"
    found = scim.query(User, query_parameters={"filter": f'userName eq "{upn}"'})
    c.check("matching query: no such user yet", found.total_results == 0, found)

    created = scim.create(User.model_validate(
        entra_user(upn, "E-70412", "+1 425 555 0170", "+1 425 555 0171")))
    uid = created.id
    c.check("create: 201 with an id and a version", bool(uid) and bool(created.meta.version), created)
    status, g = graph("GET", f"/users/{uid}")
    c.check("Graph sees the public numbers", status == 200 and g.get("mobilePhone") == "+1 425 555 0170"
            and g.get("businessPhones") == ["+1 425 555 0171"], g)
    methods = graph.methods(uid)
    c.check("rule 1: public numbers copied into the empty mobile and office methods",
            methods == {"mobile": "+1 4255550170", "office": "+1 4255550171"}, methods)

    patch(scim, User, uid, replace('phoneNumbers[type eq "mobile"].value', "+1 425 555 0172"))
    methods = graph.methods(uid)
    c.check("rule 2: the mobile method follows the public number it equalled",
            methods.get("mobile") == "+1 4255550172", methods)

    status, body = graph("PATCH", f"/users/{uid}/authentication/phoneMethods/{OFFICE_ID}",
                         {"phoneNumber": "+1 425 555 0179", "phoneType": "office"})
    c.check("an admin changes the office method (Graph)", status == 204, f"{status} {body}")
    patch(scim, User, uid, replace('phoneNumbers[type eq "work"].value', "+1 425 555 0173"))
    methods = graph.methods(uid)
    c.check("rule 3: a differing office method is left alone", methods.get("office") == "+1 4255550179", methods)

    patch(scim, User, uid, {"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": 'phoneNumbers[type eq "mobile"].value'}]})
    status, g = graph("GET", f"/users/{uid}")
    methods = graph.methods(uid)
    c.check("rule 4: removing the public mobile keeps the mobile method",
            g.get("mobilePhone") is None and methods.get("mobile") == "+1 4255550172", (g, methods))

    patched = patch(scim, User, uid, replace("active", "False"))
    status, g = graph("GET", f"/users/{uid}")
    c.check('PATCH active "False" disables the user', g.get("accountEnabled") is False
            and patched is not None and patched.active is False, (g, patched))

    other = scim.create(User.model_validate(
        entra_user("sam@contoso.example", "E-70413", "+1 425 555 0172", "+1 425 555 0174")))
    methods = graph.methods(other.id)
    c.check("conflict: another user's sign-in number is not copied, the sync goes on",
            "mobile" not in methods and methods.get("office") == "+1 4255550174", methods)
    status, audits = graph("GET", "/auditLogs/directoryAudits")
    skipped = [a for a in (audits or {}).get("value", [])
               if a.get("activityDisplayName") == "Copy public phone number skipped"
               and any(t.get("id") == other.id for t in a.get("targetResources", []))]
    c.check("conflict: audited as 'Copy public phone number skipped'", len(skipped) == 1, audits)

    group = scim.create(Group.model_validate(
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "G-1",
         "displayName": "Dispatch"}))
    for op in ({"op": "Add", "path": "members", "value": [{"value": uid}, {"value": other.id}]},
               {"op": "Remove", "path": "members", "value": [{"value": other.id}]}):
        patch(scim, Group, group.id, {"schemas": [PATCH], "Operations": [op]})
    status, members = graph("GET", f"/groups/{group.id}/members")
    c.check("group members added and removed in Entra's form",
            [m["id"] for m in (members or {}).get("value", [])] == [uid], members)

    scim.delete(User, other.id)
    status, _ = graph("GET", f"/users/{other.id}")
    c.check("delete: the user is gone (Graph 404)", status == 404, status)


if __name__ == "__main__":
    sys.exit(main(run, "scim-scenario-textid.log"))

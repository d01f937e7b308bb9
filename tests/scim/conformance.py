#!/usr/bin/env python3
"""scim2-tester, the SCIM 2.0 conformance checker, against the real `textid serve`.

Starts the server on a fresh data directory, registers a provisioning app with the CLI
(`--role Provisioning.ReadWrite.All`), takes its client-credentials token, and runs
`scim2_tester.check_server` for the User and Group resource types (discovery, create, read,
query with attributes, replace, PATCH add/replace/remove of every attribute, delete, an
unknown URL). Every check that did not pass is printed with its reason; the last line is
`N passed, N failed` and the exit status is 1 if any check failed.

textid's userName is a userPrincipalName (`name@domain.example`): the checker is given the
User model of scim2-models with UPN-shaped examples for userName, since it otherwise fills
it with a bare UUID. Everything else is the checker's own.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Annotated

import httpx2
from pydantic import Field
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (EnterpriseUser, Group, Required, ResourceType, ScimProvider,
                          Uniqueness, User)
from scim2_tester import Status, check_server

from harness import Checks, Server, app_token, main

UPNS = [f"u{uuid.uuid4().hex[:16]}@contoso.example" for _ in range(100_000)]


class TextidUser(User):
    """scim2-models' User, whose userName examples are userPrincipalNames."""

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = Field(None, examples=UPNS)


def run(server: Server, data_dir: Path, checks: Checks) -> None:
    token = app_token(server.base, data_dir, "scim-conformance", ["Provisioning.ReadWrite.All"])
    http = httpx2.Client(base_url=f"{server.base}/default/scim/v2",
                         headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30)
    provider = ScimProvider(
        models=[TextidUser, EnterpriseUser, Group],
        resource_types=[ResourceType.from_resource(TextidUser[EnterpriseUser]),
                        ResourceType.from_resource(Group)])
    client = SyncSCIMClient(http, provider=provider)
    results = check_server(client, resource_types=["User", "Group"])
    for r in results:
        name = f"{r.resource_type or '-'} {r.title}"
        if r.status == Status.SKIPPED:
            print(f"skip {name}: {r.reason}", flush=True)
            continue
        checks.check(name, r.status == Status.SUCCESS, r.reason)


if __name__ == "__main__":
    sys.exit(main(run, "scim-conformance-textid.log"))

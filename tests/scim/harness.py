"""What both SCIM scripts share: the server harness of tests/support, named checks, and a
`main` that runs a script's checks against a fresh `textid serve` and prints the summary
line `N passed, N failed`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from textid_harness import TEXTID, Server, app_token, http_json  # noqa: E402,F401  (re-exported)


class Checks:
    """Named checks; a failure is printed and counted, and the run goes on."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}\n     {detail}", flush=True)
        return ok


def main(run: Callable[[Server, Path, Checks], None], log_name: str) -> int:
    """Starts `textid serve` on a fresh data directory, runs `run`, stops the server (after a
    failure too), prints `N passed, N failed` and returns the exit status."""
    if not TEXTID.exists():
        print(f"{TEXTID} is missing: run cargo build --locked -p textid first")
        print("0 passed, 1 failed")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="textid-scim-"))
    artifacts = os.environ.get("ARTIFACTS_DIR")
    log_dir = Path(artifacts).resolve() / "logs" if artifacts else tmp
    log_dir.mkdir(parents=True, exist_ok=True)
    data_dir = tmp / "data"
    data_dir.mkdir()
    server = Server(data_dir, log_dir / log_name)
    checks = Checks()
    try:
        server.start()
        run(server, data_dir, checks)
    except Exception as e:  # noqa: BLE001
        checks.check("the run", False, repr(e))
    finally:
        server.stop()
        if checks.failed:
            print(server.log_tail())
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0

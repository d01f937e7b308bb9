"""The server harness of the Python test layers (tests/graph, tests/scim): `textid serve` on a
free loopback port with a fresh data directory, the CLI on the same directory, plain HTTP,
and client-credentials tokens.

The server is started by `Server.start`, which waits for the line `textid listening on ...`
(it reads the server's lines and never sleeps), and stopped by `Server.stop`.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
TEXTID = Path(os.environ.get("TEXTID_BIN") or ROOT / "target" / "debug" / "textid")

# Plain HTTP (token endpoint, sign-in API) never goes through a proxy: loopback only.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    """The environment for textid: ours less any TEXTID_* setting (the test chooses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTID_")}
    env.pop("RUST_LOG", None)
    return env


class Server:
    """`textid serve` on a free port with a fresh data directory."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[str]] = None
        self._log = open(log_path, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _pump(self, stream: Any, lines: Optional[queue.Queue[Optional[str]]]) -> None:
        for line in stream:
            with self._lock:
                self._log.write(line)
                self._log.flush()
            if lines is not None:
                lines.put(line)
        if lines is not None:
            lines.put(None)

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            str(TEXTID),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--public-url",
            self.base,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        lines: queue.Queue[Optional[str]] = queue.Queue()
        for stream, q in ((self.proc.stdout, lines), (self.proc.stderr, None)):
            t = threading.Thread(target=self._pump, args=(stream, q), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + timeout
        expected = f"textid listening on {self.base}"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no '{expected}' line within {timeout:.0f}s")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"textid serve exited ({self.proc.wait()}) before listening")
            if line.strip() == expected:
                return
            if line.startswith("textid listening on"):
                raise RuntimeError(f"textid printed {line.strip()!r}, expected {expected!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        self._log.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "".join(self.log_path.read_text(encoding="utf-8").splitlines(True)[-n:])
        except OSError:
            return ""


def cli(data_dir: Path, *args: str) -> Any:
    """Runs a CLI command with `--json` on the data directory; returns its JSON."""
    cmd = [str(TEXTID), "--data-dir", str(data_dir), *args, "--json"]
    r = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=child_env(), timeout=60
    )
    if r.returncode != 0:
        raise RuntimeError(f"textid {' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
    return json.loads(r.stdout) if r.stdout.strip() else None


def http_json(
    method: str, url: str, body: Any = None, headers: Optional[dict[str, str]] = None
) -> tuple[int, Any]:
    """A plain HTTP request; returns (status, parsed JSON body or None)."""
    data = None
    hdrs = dict(headers or {})
    if isinstance(body, dict) and hdrs.get("Content-Type") == "application/x-www-form-urlencoded":
        data = urllib.parse.urlencode(body).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with HTTP.open(req, timeout=30) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def client_credentials_token(base: str, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, body = http_json(
        "POST",
        f"{base}/default/oauth2/v2.0/token",
        {"grant_type": "client_credentials"},
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        raise RuntimeError(f"token endpoint answered {status}: {body}")
    return body["access_token"]


def app_token(base: str, data_dir: Path, name: str, roles: list[str]) -> str:
    """Registers an app holding `roles` with the CLI and returns its client-credentials token."""
    args = ["client", "create", "--name", name, "--grant", "client_credentials"]
    for r in roles:
        args += ["--role", r]
    app = cli(data_dir, *args)
    return client_credentials_token(base, app["clientId"], app["clientSecret"])

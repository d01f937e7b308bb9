"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): a network guard.

Whatever the document's `servers`, a link or a redirect says, the fuzzer may open TCP
connections to 127.0.0.1 only: every other connect raises before a packet leaves.
"""

import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _allowed(address):
    if isinstance(address, tuple) and address and address[0] == "127.0.0.1":
        return True
    if isinstance(address, (str, bytes)):  # AF_UNIX: no network
        return True
    raise ConnectionRefusedError(f"tests/openapi/hooks.py: connection to {address!r} refused (127.0.0.1 only)")


def _guarded_connect(self, address):
    _allowed(address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _allowed(address)
    return _connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex

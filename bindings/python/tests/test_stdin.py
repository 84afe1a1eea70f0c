"""Bytes in, bytes out: stdin with NUL bytes comes back unchanged."""

from __future__ import annotations

import sandbox
from conftest import unique


def test_stdin_round_trip_with_nul_bytes(sb: sandbox.Sandbox, workdir: str) -> None:
    data = bytes(range(256)) * 1000 + b"\x00" * 1000
    with sb.start(unique("stdin"), workdir) as s:
        r = s.exec(["cat"], stdin=data)
        assert r.stdout == data and r.success
        assert s.exec(["wc", "-c"], stdin=b"").stdout.strip() == b"0"
        assert s.exec(["cat"], stdin=bytearray(b"a\x00b")).stdout == b"a\x00b"
        assert s.exec(["cat"], stdin=memoryview(b"\x00\x01")).stdout == b"\x00\x01"
        binary = s.exec(["sh", "-c", "printf '\\377\\000\\376'"]).stdout
        assert binary == b"\xff\x00\xfe", "output is bytes, not lossy text"

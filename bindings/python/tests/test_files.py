"""Files: a byte-exact round trip, stat and list_dir as dataclasses, modes, symlinks,
remove, typed errors."""

from __future__ import annotations

import os

import pytest

import sandbox
from conftest import unique


def test_round_trip_stat_list_remove(sb: sandbox.Sandbox, workdir: str) -> None:
    data = bytes(range(256)) * 5000
    d = os.path.join(workdir, "data")
    with sb.start(unique("files"), workdir) as s:
        s.exec(["mkdir", d])
        s.write_file(f"{d}/b.bin", data)
        assert s.read_file(f"{d}/b.bin") == data
        s.write_file(f"{d}/a.txt", "text é", mode=0o600)
        assert s.read_file(f"{d}/a.txt") == "text é".encode()
        s.exec(["ln", "-s", "a.txt", f"{d}/link"])
        info = s.stat(f"{d}/a.txt")
        assert (info.name, info.kind, info.size, info.mode, info.target) == ("a.txt", "file", 7, 0o600, None)
        assert info.is_file and not info.is_dir and info.modified > 0
        assert s.stat(f"{d}/link").target == "a.txt" and s.stat(f"{d}/link").kind == "symlink"
        assert s.stat(d).is_dir
        assert [(e.name, e.kind) for e in s.list_dir(d)] == [("a.txt", "file"), ("b.bin", "file"), ("link", "symlink")]
        with open(f"{d}/a.txt", "rb") as f:
            assert f.read() == "text é".encode(), "the host sees the same file"
        s.remove(f"{d}/a.txt")
        with pytest.raises(sandbox.NotFoundError):
            s.stat(f"{d}/a.txt")
        with pytest.raises(sandbox.SandboxError):
            s.remove(d)
        s.remove(d, recursive=True)
        assert not os.path.exists(d)


def test_file_errors_are_typed(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("fileerr"), workdir) as s:
        with pytest.raises(sandbox.NotFoundError):
            s.read_file("/no/such/file")
        with pytest.raises(sandbox.NotFoundError):
            s.write_file("/no/such/dir/f", b"x")
        with pytest.raises(sandbox.NotFoundError):
            s.list_dir("/no/such/dir")
        for mode in (-2, 0o10000, 2**40):
            with pytest.raises(sandbox.InvalidArgumentError):
                s.write_file("/tmp/m", b"x", mode=mode)
        with pytest.raises(sandbox.InvalidArgumentError):
            s.read_file("")
        with pytest.raises(TypeError):
            s.write_file("/tmp/m", 42)  # type: ignore[arg-type]

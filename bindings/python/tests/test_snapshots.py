"""Snapshots, starts from one, forks, diffs and merges against real podman: a file written
before the snapshot is in a child started from it, the child's writes stay out of the
parent, a child started with no working dir gets a managed copy at ``<copy_dir>/<id>``
(the copy dir gone with its last copy), a fork of 2 where one child's change is in its
diff only, merges into a directory and into the parent; the children's copies (reflink,
overlay or plain) outlive them until removed, and an overlay keeps its snapshot; typed
errors for bad input (a relative copy dir too); every copy, snapshot and image
removed."""

from __future__ import annotations

import inspect
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import sandbox
from conftest import leftovers, unique

BEFORE = "written before the snapshot\n"
COPY_METHODS = ("reflink", "overlay", "copy")
RETAKEN_PARTS = {"working_dir", "container"}


def snapshot_images(store: Path) -> list[str]:
    out = subprocess.run(
        ["podman", "images", "-q", "--no-trunc", "--filter", f"label=sandbox.snapshot.store={store}"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.split()


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A snapshot dir of the test's own; its images and files are removed afterwards."""
    d = tmp_path_factory.mktemp("snapshots")
    yield d
    for image in snapshot_images(d):
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
    if os.getuid() != 0:  # rootless copies may hold files only podman's user namespace can remove
        subprocess.run(["podman", "unshare", "rm", "-rf", str(d)], capture_output=True, check=False)


def mounts_under(d: Path) -> list[str]:
    """The mount points below ``d`` in this process's mount namespace, deepest first."""
    prefix = f"{d}/"
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = [line.split(" ")[4].replace("\\040", " ") for line in f]
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def unmount(point: str) -> None:
    """Unmounts a copy a failed test left: a kernel overlay (root) or fuse-overlayfs."""
    for cmd in (["umount", point], ["fusermount3", "-u", point]):
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            return


@pytest.fixture
def ssb(scope: str, store: Path) -> Iterator[sandbox.Sandbox]:
    with sandbox.Sandbox(scope=scope, provision=False, snapshot_dir=store) as s:
        try:
            yield s
        finally:
            s.reap_orphans()
    assert leftovers(scope) == [], "the test left sessions behind"


@pytest.fixture
def kids(ssb: sandbox.Sandbox, tmp_path: Path) -> Iterator[Path]:
    """A dir for the children's copies. Copies a failed test left in it are removed through
    the library once its sessions are stopped, and unmounted as a backstop."""
    d = tmp_path / "kids"
    d.mkdir()
    yield d
    for copy in sorted(d.iterdir()):
        try:
            ssb.remove_copy(copy)
        except sandbox.SandboxError:
            pass
    for point in mounts_under(d):
        unmount(point)


def test_snapshot_start_fork_diff_merge(
    ssb: sandbox.Sandbox, store: Path, workdir: str, tmp_path: Path, kids: Path
) -> None:
    work = Path(workdir) / "work"
    merged = tmp_path / "merged"
    for d in (work, merged):
        d.mkdir()
    (work / "before.txt").write_text(BEFORE)
    sessions: list[sandbox.Session] = []
    try:
        parent = ssb.start(unique("py-snap"), work)
        sessions.append(parent)
        r = parent.snapshot("base")
        assert isinstance(r, sandbox.SnapshotReport)
        assert (r.name, r.session, r.freeze) == ("base", parent.id, "signals")
        assert r.copy in ("reflink", "copy") and r.image
        assert (r.files, r.bytes) == (1, len(BEFORE))
        assert 0 <= r.frozen <= r.took and r.took > 0 and r.created > 0
        # What was taken again while frozen (empty when nothing changed meanwhile).
        assert isinstance(r.retaken, list) and set(r.retaken) <= RETAKEN_PARTS
        assert [i.name for i in ssb.snapshots()] == ["base"]
        assert isinstance(ssb.snapshots()[0], sandbox.SnapshotInfo)

        # A child from it has the file; what it writes stays its own.
        child = ssb.start(unique("py-kid"), kids / "child", snapshot="base")
        sessions.append(child)
        assert child.start_report["image"]["reason"] == "snapshot"
        assert child.start_report["snapshot"]["name"] == "base"
        # Reflinks where the filesystem has them, else an overlay (also rootless: every
        # file of this tree is the user's), else a plain copy.
        method = child.start_report["snapshot"]["copy"]
        assert method in COPY_METHODS
        assert (kids / "child" / "before.txt").read_text() == BEFORE
        child.write_file(str(kids / "child" / "child.txt"), "mine\n")
        assert not (work / "child.txt").exists()
        assert child.diff() == [sandbox.Change("child.txt", "added", "file", 5)]
        row = next(i for i in ssb.list() if i["id"] == child.id)
        assert row["snapshot"] == "base"

        # A fork of 2: one's change is in its diff only.
        f = parent.fork(2, kids, snapshot="forked")
        sessions.extend(f.children)
        assert isinstance(f, sandbox.ForkResult) and f.snapshot.name == "forked"
        assert isinstance(f.snapshot.retaken, list) and set(f.snapshot.retaken) <= RETAKEN_PARTS
        assert [c.id for c in f.children] == [f"{parent.id}-1", f"{parent.id}-2"]
        one, two = f.children
        assert [c.start_report["snapshot"] for c in f.children] == [{"name": "forked", "copy": method}] * 2
        assert (kids / two.id / "before.txt").read_text() == BEFORE
        one.write_file(str(kids / one.id / "new.txt"), "from one\n")
        assert one.diff() == [sandbox.Change("new.txt", "added", "file", 9)]
        assert two.diff("forked") == []

        # Merged into a directory, then into the parent.
        m = one.merge(merged)
        assert isinstance(m, sandbox.MergeReport) and (m.changes, m.applied) == (1, 1)
        assert (merged / "new.txt").read_text() == "from one\n"
        assert one.merge(parent, snapshot="forked").applied == 1
        assert (work / "new.txt").read_text() == "from one\n"
        assert parent.exec(["cat", str(work / "new.txt")]).stdout == b"from one\n"

        # A running child's copy cannot go; bad paths.
        with pytest.raises(sandbox.InvalidArgumentError, match="stop it first"):
            ssb.remove_copy(kids / "child")
        assert (kids / "child" / "before.txt").read_text() == BEFORE
        with pytest.raises(sandbox.InvalidArgumentError, match="absolute"):
            ssb.remove_copy("relative/child")
        with pytest.raises(sandbox.NotFoundError):
            ssb.remove_copy(kids / "never")
    finally:
        for s in sessions:
            s.stop()
            s.close()

    # Stopped, the children's copies stay (their changes are the output); the parent's
    # working dir is no snapshot's copy.
    copies = [kids / "child", kids / one.id, kids / two.id]
    assert (kids / "child" / "child.txt").read_text() == "mine\n"
    assert (kids / one.id / "new.txt").read_text() == "from one\n"
    with pytest.raises(sandbox.NotFoundError):
        ssb.remove_copy(work)
    assert (work / "before.txt").read_text() == BEFORE

    # An overlay copy reads from its snapshot, which cannot go while the copy exists.
    if method == "overlay":
        with pytest.raises(sandbox.InvalidArgumentError, match="remove those copies first") as e:
            ssb.remove_snapshot("base")
        assert str(kids / "child") in str(e.value)
        with pytest.raises(sandbox.InvalidArgumentError, match="remove those copies first") as e:
            ssb.remove_snapshot("forked")
        assert str(kids / one.id) in str(e.value) and str(kids / two.id) in str(e.value)
        assert [i.name for i in ssb.snapshots()] == ["base", "forked"]

    # Each copy removed, once; then the snapshots.
    for copy in copies:
        ssb.remove_copy(copy)
        assert not copy.exists()
    assert mounts_under(kids) == []
    with pytest.raises(sandbox.NotFoundError):
        ssb.remove_copy(kids / "child")
    ssb.remove_snapshot("base")
    ssb.remove_snapshot("forked")
    assert ssb.snapshots() == []
    assert snapshot_images(store) == [], "no snapshot image is left"


def test_fork_children_get_the_template(ssb: sandbox.Sandbox, store: Path, workdir: str, kids: Path) -> None:
    work = Path(workdir) / "work"  # not around the children's copies
    work.mkdir()
    (work / "before.txt").write_text(BEFORE)
    with ssb.start(unique("py-forkp"), work, env={"PARENT_ONLY": "1"}) as parent:
        # A setting that is each child's own, or an unknown one: refused, nothing made.
        with pytest.raises(sandbox.InvalidArgumentError, match="fork template"):
            parent.fork(1, kids, snapshot="tmpl", image="docker.io/library/alpine:latest")
        with pytest.raises(TypeError, match="bogus"):
            parent.fork(1, kids, snapshot="tmpl", bogus=1)
        assert ssb.snapshots() == [] and list(kids.iterdir()) == []

        prefix = unique("py-tmpl")
        f = parent.fork(1, kids, snapshot="tmpl", id=prefix, env={"FORK_ROLE": "child"}, memory_limit=300 << 20)
        (child,) = f.children
        try:
            assert child.id == f"{prefix}-1"
            assert child.start_report["limits"]["requested"]["memory_bytes"] == 300 << 20
            probe = 'printf "%s,%s" "$FORK_ROLE" "${PARENT_ONLY-unset}"'
            assert child.exec(["sh", "-c", probe]).stdout == b"child,unset"
            assert parent.exec(["sh", "-c", probe]).stdout == b",1"
            assert (kids / child.id / "before.txt").read_text() == BEFORE
        finally:
            child.stop()
            child.close()
    ssb.remove_copy(kids / child.id)
    ssb.remove_snapshot("tmpl")
    assert snapshot_images(store) == []


def test_the_template_takes_every_setting_of_start() -> None:
    start = inspect.signature(sandbox.Sandbox.start).parameters.values()
    settings = tuple(p.name for p in start if p.kind is inspect.Parameter.KEYWORD_ONLY)
    assert settings == sandbox._SPEC_SETTINGS


def test_snapshot_start_in_a_managed_copy(
    ssb: sandbox.Sandbox, scope: str, store: Path, workdir: str, tmp_path: Path
) -> None:
    work = Path(workdir) / "work"
    work.mkdir()
    (work / "before.txt").write_text(BEFORE)
    copies = tmp_path / "copies"  # made by the first managed start, gone with its last copy
    with sandbox.Sandbox(scope=scope, provision=False, snapshot_dir=store, copy_dir=copies) as msb:
        try:
            with ssb.start(unique("py-snap"), work) as parent:
                r = parent.snapshot("base")
            assert isinstance(r.retaken, list) and set(r.retaken) <= RETAKEN_PARTS

            # Neither a working dir nor a snapshot: refused, nothing made.
            with pytest.raises(sandbox.InvalidArgumentError, match="working dir"):
                msb.start(unique("py-kid"))
            assert not copies.exists()

            # No working dir but a snapshot: a managed copy at <copy_dir>/<id>.
            with msb.start(unique("py-managed"), snapshot="base") as kid:
                copy = copies / kid.id
                assert kid.start_report["working_dir"] == str(copy)
                assert kid.start_report["snapshot"]["copy"] in COPY_METHODS
                assert (copy / "before.txt").read_text() == BEFORE
                assert kid.exec(["cat", str(copy / "before.txt")]).stdout == BEFORE.encode()
                with pytest.raises(sandbox.InvalidArgumentError, match="stop it first"):
                    msb.remove_copy(copy)
            # Stopped (by the with), the copy stays until removed; then the copy dir goes.
            assert (copy / "before.txt").read_text() == BEFORE
            msb.remove_copy(copy)
            assert not copy.exists() and not copies.exists()
            assert mounts_under(tmp_path) == []
            msb.remove_snapshot("base")
            assert snapshot_images(store) == []
        finally:
            if copies.exists():  # what a failed check left: removed, then unmounted
                for c in sorted(copies.iterdir()):
                    try:
                        msb.remove_copy(c)
                    except sandbox.SandboxError:
                        pass
                for point in mounts_under(copies):
                    unmount(point)


def test_a_relative_copy_dir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(sandbox.InvalidArgumentError, match="copy dir"):
        sandbox.Sandbox(copy_dir="relative/copies")
    monkeypatch.setenv("SANDBOX_COPY_DIR", "relative/copies")
    with pytest.raises(sandbox.ConfigError, match="copy_dir"):
        sandbox.Sandbox()
    sandbox.Sandbox(from_env=False, copy_dir="/tmp/copies").close()


def test_snapshot_bad_input_gets_typed_errors(ssb: sandbox.Sandbox, store: Path, workdir: str, tmp_path: Path) -> None:
    s = ssb.start(unique("py-snapbad"), workdir)
    try:
        for bad in ("", "../x", "a/b", "-x"):
            with pytest.raises(sandbox.InvalidArgumentError):
                s.snapshot(bad)
        with pytest.raises(TypeError):
            s.snapshot(None)  # type: ignore[arg-type]
        with pytest.raises(sandbox.NotFoundError):
            ssb.start(unique("py-kid"), tmp_path / "k1", snapshot="nope")
        assert not (tmp_path / "k1").exists()
        with pytest.raises(sandbox.InvalidArgumentError):
            ssb.start(unique("py-kid"), tmp_path / "k2", snapshot="")
        for count in (0, 10_000, -1):
            with pytest.raises(sandbox.InvalidArgumentError):
                s.fork(count, tmp_path)
        with pytest.raises(sandbox.InvalidArgumentError):
            s.fork(1, tmp_path / "missing")
        with pytest.raises(sandbox.NotFoundError):
            s.diff("nope")
        with pytest.raises(sandbox.InvalidArgumentError, match="did not start from a snapshot"):
            s.diff()
        with pytest.raises(sandbox.InvalidArgumentError):
            s.merge(tmp_path)
        with pytest.raises(sandbox.NotFoundError):
            ssb.remove_snapshot("nope")
        for bad_path in ("", "relative/copy"):
            with pytest.raises(sandbox.InvalidArgumentError):
                ssb.remove_copy(bad_path)
        with pytest.raises(TypeError):
            ssb.remove_copy(None)  # type: ignore[arg-type]
        with pytest.raises(sandbox.NotFoundError):
            ssb.remove_copy(store / "no-copy")
        with pytest.raises(sandbox.InvalidArgumentError, match="stop it first"):
            ssb.remove_copy(workdir)
        with pytest.raises(sandbox.InvalidArgumentError, match="stop that session first"):
            ssb.remove_copy(tmp_path / "no-copy")
        assert ssb.snapshots() == []
    finally:
        s.stop()
    with pytest.raises(sandbox.SessionNotFoundError):
        s.snapshot("late")
    s.close()
    assert ssb.snapshots() == [] and ssb.reap_snapshots() == []
    assert snapshot_images(store) == []

"""start -> exec -> stop, options, timeouts, the start report, attach, list, stop, reap."""

from __future__ import annotations

import json

import pytest

import sandbox
from conftest import unique


def test_start_exec_stop(sb: sandbox.Sandbox, workdir: str) -> None:
    sid = unique("basic")
    with sb.start(sid, workdir) as s:
        assert s.id == sid
        assert s.start_report is not None and s.start_report["session_id"] == sid
        assert s.start_report["image"]["reason"] == "default"
        assert isinstance(s.warnings, list)
        s.ping()
        assert s.agent_version
        r = s.exec(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
        assert (r.stdout, r.stderr, r.exit_code, r.signal) == (b"hello\n", b"oops\n", 3, None)
        assert not r.success and not r.timed_out
        assert (r.stdout_total, r.stderr_total) == (6, 5)
        assert r.duration >= 0
        r = s.exec(["sh", "-c", "echo $GREETING; pwd"], env={"GREETING": "hi there"}, cwd="/tmp")
        assert r.stdout == b"hi there\n/tmp\n"
        r = s.exec(["sleep", "30"], timeout=0.3)
        assert r.timed_out and r.exit_code is None and r.signal
        r = s.exec(["sh", "-c", "head -c 100000 /dev/zero"], output_cap=1000)
        assert len(r.stdout) == 1000 and r.stdout_truncated and r.stdout_total == 100000
    # `with` stopped it: the handle says so, with a typed error.
    with pytest.raises(sandbox.ClosedError):
        s.exec(["true"])
    assert sb.list() == []


def test_zero_is_zero_and_none_is_the_default(sb: sandbox.Sandbox, workdir: str) -> None:
    """The options rule: None leaves a knob at its default; 0 is zero where zero means
    something (capture nothing, kill at once) and an invalid argument where it does not."""
    with sb.start(unique("zero"), workdir) as s:
        script = ["sh", "-c", "printf 12345; printf abc >&2"]
        r = s.exec(script, output_cap=0)
        assert (r.stdout, r.stderr) == (b"", b"")
        assert (r.stdout_total, r.stderr_total) == (5, 3)
        assert r.stdout_truncated and r.stderr_truncated
        r = s.exec(script, output_cap=None)
        assert (r.stdout, r.stderr, r.stdout_truncated) == (b"12345", b"abc", False)
        # With a grace of 0 only SIGKILL comes: the TERM trap never prints.
        r = s.exec(["sh", "-c", "trap 'echo got-term' TERM; sleep 30; echo after"], timeout=0.2, kill_grace=0)
        assert r.timed_out and r.signal == 9 and r.stdout == b""
        with pytest.raises(sandbox.InvalidArgumentError, match="timeout"):
            s.exec(["true"], timeout=0)
        for bad in ({"output_cap": -1}, {"kill_grace": -1}, {"linger": -0.5}):
            with pytest.raises(sandbox.InvalidArgumentError):
                s.exec(["true"], **bad)
        task = s.spawn(["sleep", "30"])
        with pytest.raises(sandbox.SandboxTimeoutError):
            task.wait(timeout=0)
        assert task.output(timeout=0).data == b""
        with pytest.raises(sandbox.InvalidArgumentError, match="spool cap"):
            s.spawn(["true"], spool_cap=0)
        task.kill()


def test_stop_then_exec_names_the_reason(sb: sandbox.Sandbox, workdir: str) -> None:
    s = sb.start(unique("stopped"), workdir)
    s.stop()
    s.stop()  # idempotent
    with pytest.raises(sandbox.SessionNotFoundError, match="stopped") as e:
        s.exec(["true"])
    assert e.value.status is sandbox.Status.SESSION_NOT_FOUND
    s.close()
    s.close()  # idempotent


def test_attach_list_stop_reap(sb: sandbox.Sandbox, workdir: str) -> None:
    a, b = unique("keep"), unique("orphan")
    sa = sb.start(a, workdir)
    sb.start(b, workdir)  # dropped without close: the GC frees the handle, the container stays
    rows = sb.list()
    assert sorted(r["id"] for r in rows) == sorted([a, b])
    assert all(r["state"] == "running" and r["created_unix"] > 0 for r in rows)
    with sb.attach(a) as again:
        assert again.start_report is None and again.warnings == []
        assert again.exec(["echo", "attached"]).stdout == b"attached\n"
    assert sa.exec(["true"]).success, "closing an attached handle leaves the session running"
    assert sb.reap_orphans([a]) == [b]
    sb.stop(a)
    with pytest.raises(sandbox.SessionNotFoundError):
        sb.stop(a)
    with pytest.raises((sandbox.SessionNotFoundError, sandbox.SessionLostError)):
        sa.exec(["true"])
    sa.close()


def test_engine_probe(sb: sandbox.Sandbox) -> None:
    info = sb.info()
    assert info["version"].count(".") >= 1
    assert isinstance(info["rootless"], bool)
    assert info["cgroup_mode"] in ("v1", "hybrid", "v2")
    json.dumps(info)


def test_start_report_says_what_was_replaced(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("untrusted"), workdir, image="docker.io/library/alpine:3.20") as s:
        assert s.start_report["image"]["reason"] == "untrusted_replaced"
        assert any("alpine" in w for w in s.warnings)

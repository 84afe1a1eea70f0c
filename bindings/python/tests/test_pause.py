"""Pause and resume: the report, starts refused with NotRunningError while paused,
reads going on, CPU time that does not grow while paused, and a stopped session."""

from __future__ import annotations

import time

import pytest

import sandbox
from conftest import leftovers


def cpu_used(s: sandbox.Session, seconds: float) -> int:
    """CPU time (µs) the session's processes used during ``seconds``."""
    before = s.stats().cpu_usec
    time.sleep(seconds)
    return s.stats().cpu_usec - before


def test_pause_stops_cpu_refuses_starts_and_resume_continues(sb: sandbox.Sandbox, scope: str, workdir: str) -> None:
    s = sb.start("py-pause", workdir)
    try:
        task = s.spawn("echo up; while :; do :; done")
        assert task.output("stdout", 0, 100, timeout=30).data == b"up\n"
        assert cpu_used(s, 1.0) > 300_000, "the loop runs"

        p = s.pause()
        assert isinstance(p, sandbox.PauseReport)
        assert (p.paused, p.changed, p.method) == (True, True, "signals")
        assert p.processes >= 1 and p.took >= 0
        assert cpu_used(s, 1.0) < 100_000, "no CPU while paused"
        with pytest.raises(sandbox.NotRunningError, match="paused"):
            s.exec(["true"])
        with pytest.raises(sandbox.NotRunningError):
            s.spawn("true")
        assert task.output("stdout", 0, 100).data == b"up\n", "reads go on"
        assert s.pause().changed is False

        r = s.resume()
        assert (r.paused, r.changed) == (False, True)
        assert cpu_used(s, 1.0) > 300_000, "the loop runs again"
        assert s.exec(["echo", "back"]).stdout == b"back\n"
        assert s.resume().changed is False
        s.pause()
    finally:
        s.stop()
    with pytest.raises(sandbox.SessionNotFoundError):
        s.pause()
    s.close()
    assert leftovers(scope) == []

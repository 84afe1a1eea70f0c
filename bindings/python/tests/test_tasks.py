"""Tasks: spawned, read (stdout, stderr, merged, tail, following), waited, killed, listed,
found again by id; typed errors; close waking a blocked wait."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import sandbox
from conftest import unique


def test_spawn_read_wait(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("tasks"), workdir) as s:
        with s.spawn("echo out; echo err >&2; printf 'x\\000y'; exit 4") as t:
            assert t.id and repr(t).startswith("<sandbox.Task")
            info = t.wait()
            assert (info.state, info.exit_code, info.signal) == ("exited", 4, None)
            assert not info.running and info.pid > 0 and info.ended is not None and info.ended >= info.started
            assert "echo out" in info.command and info.spool_cap == 8 * 1024 * 1024
            # read_all follows the output until it is complete (the task may be reported
            # ended a moment before the agent has drained its pipes).
            assert t.read_all("stdout") == b"out\nx\x00y"
            assert t.read_all("stderr") == b"err\n"
            assert len(t.read_all()) == 11
            merged = t.output()
            assert len(merged.data) == 11 and merged.finished and merged.next_offset == 11
            part = t.output("stdout", offset=4, max_bytes=2)
            assert (part.data, part.offset, part.end, part.finished) == (b"x\x00", 4, 7, False)
            assert t.tail(3, "stdout").data == b"x\x00y"
            listed = s.tasks()
            assert [i.id for i in listed] == [t.id]
            again = s.task(t.id)
            assert again.info().exit_code == 4
            again.close()
        assert t.closed
        with pytest.raises(sandbox.ClosedError):
            t.info()
        argv_task = s.spawn(["sh", "-c", "echo $GREETING; pwd"], env={"GREETING": "hi there"}, cwd="/tmp")
        argv_task.wait(timeout=30)
        assert argv_task.read_all("stdout") == b"hi there\n/tmp\n"


def test_follow_timeouts_and_kill(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("follow"), workdir) as s:
        t = s.spawn("for i in 1 2 3; do echo line $i; sleep 0.1; done")
        assert b"".join(t.follow()) == b"line 1\nline 2\nline 3\n"
        sleeper = s.spawn("echo started; exec sleep 60")
        first = sleeper.output(timeout=None)
        assert first.data == b"started\n"
        with pytest.raises(sandbox.SandboxTimeoutError):
            sleeper.output(offset=first.next_offset, timeout=0.2)
        assert sleeper.output(offset=first.next_offset).data == b"", "timeout 0 answers at once"
        with pytest.raises(sandbox.SandboxTimeoutError):
            sleeper.wait(timeout=0.1)
        sleeper.kill(signal.SIGKILL)
        info = sleeper.wait()
        assert (info.state, info.signal, info.exit_code) == ("killed", 9, None)
        with pytest.raises(sandbox.NotRunningError):
            sleeper.kill()


def test_task_errors_are_typed(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("taskerr"), workdir) as s:
        t = s.spawn("sleep 60")
        with pytest.raises(sandbox.InvalidArgumentError, match="stream"):
            t.output("both")
        with pytest.raises(sandbox.InvalidArgumentError):
            t.output(max_bytes=0)
        with pytest.raises(sandbox.InvalidArgumentError):
            t.output(offset=-1)
        with pytest.raises(sandbox.InvalidArgumentError):
            t.output(timeout=-1)
        with pytest.raises(TypeError):
            t.output(timeout="soon")  # type: ignore[arg-type]
        for sig in (0, 32, 2**40):
            with pytest.raises(sandbox.InvalidArgumentError):
                t.kill(sig)
        with pytest.raises(sandbox.NotFoundError):
            s.task("task-nosuch")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.task("bad id!")
        with pytest.raises(sandbox.NotFoundError):
            s.spawn("true", cwd="/no/such/dir")
        with pytest.raises(sandbox.InvalidArgumentError, match="spool cap"):
            s.spawn("true", spool_cap=1)
        with pytest.raises(sandbox.InvalidArgumentError, match="empty"):
            s.spawn("  ")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.spawn([])
        with pytest.raises(sandbox.InvalidArgumentError, match="environment"):
            s.spawn("true", env={"A=B": "x"})
        t.kill(signal.SIGKILL)


def test_close_wakes_a_blocked_wait(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("taskclose"), workdir) as s:
        t = s.spawn("sleep 60")
        outcome: list[BaseException] = []

        def waiter() -> None:
            try:
                t.wait()
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.2)
        t.close()
        t.close()
        th.join(timeout=30)
        assert not th.is_alive() and isinstance(outcome[0], sandbox.ClosedError), outcome
        again = s.task(t.id)
        assert again.info().running, "closing the handle does not stop the task"
        token = sandbox.CancelToken()
        th = threading.Thread(target=lambda: outcome.append(pytest.raises(sandbox.CancelledError, again.wait, cancel=token)))
        th.start()
        time.sleep(0.2)
        token.cancel()
        th.join(timeout=30)
        assert not th.is_alive()
        again.kill(signal.SIGKILL)

"""Streaming exec: events while the command runs, stdin and signals, timeouts, close (the
context manager) killing the command, and close from another thread waking a reader."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import sandbox
from conftest import unique


def sleeper_running(s: sandbox.Session) -> bool:
    return s.exec(["sh", "-c", "ps | grep -v grep | grep -q 'sleep 61'"]).exit_code == 0


def wait_until(predicate, what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def test_events_stdin_and_exit(sb: sandbox.Sandbox, workdir: str) -> None:
    data = bytes(range(256)) * 800
    with sb.start(unique("stream"), workdir) as s:
        with s.exec_stream(["cat"]) as st:
            st.write(data)
            st.close_stdin()
            out = b"".join(ev.data for ev in st if isinstance(ev, sandbox.StdoutEvent))
            assert out == data
            assert st.exit is not None and st.exit.success and st.exit.stdout_total == len(data)
            with pytest.raises(sandbox.NotRunningError):
                st.next_event(timeout=0.1)
            with pytest.raises(sandbox.NotRunningError):
                st.write(b"more")
        with s.exec_stream(["sh", "-c", "echo $WHO; pwd >&2; exit 5"], env={"WHO": "me"}, cwd="/tmp") as st:
            events = list(st)
        assert sandbox.StdoutEvent(b"me\n") in events and sandbox.StderrEvent(b"/tmp\n") in events
        assert isinstance(events[-1], sandbox.ExitEvent) and events[-1].exit_code == 5
        with s.exec_stream(["head", "-c", "5000000", "/dev/zero"]) as st:
            assert sum(len(ev.data) for ev in st if not isinstance(ev, sandbox.ExitEvent)) == 5_000_000
        with s.exec_stream(["sleep", "30"], timeout=0.2) as st:
            assert st.wait().timed_out


def test_timeouts_signals_and_close(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("streamsig"), workdir) as s:
        with s.exec_stream(["sleep", "61"]) as st:
            with pytest.raises(sandbox.SandboxTimeoutError):
                st.next_event(timeout=0.2)
            with pytest.raises(sandbox.SandboxTimeoutError):
                st.next_event(timeout=0)
            st.signal(signal.SIGTERM)
            ex = st.wait()
            assert (ex.signal, ex.exit_code) == (signal.SIGTERM, None)
        # Leaving the block kills a command still running.
        with s.exec_stream(["sleep", "61"]):
            wait_until(lambda: sleeper_running(s), "it runs")
        wait_until(lambda: not sleeper_running(s), "the with block killed it")
        # close() on another thread wakes a reader.
        st = s.exec_stream(["sleep", "61"])
        outcome: list[BaseException] = []

        def reader() -> None:
            try:
                list(st)
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        th = threading.Thread(target=reader)
        th.start()
        time.sleep(0.3)
        st.close()
        th.join(timeout=30)
        assert not th.is_alive() and isinstance(outcome[0], sandbox.ClosedError), outcome
        wait_until(lambda: not sleeper_running(s), "close killed it")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.exec_stream([])
        with pytest.raises(TypeError):
            s.exec_stream("sleep 1")  # type: ignore[arg-type]
        with s.exec_stream(["true"], cwd="/no/such/dir") as st:
            with pytest.raises(sandbox.NotFoundError):
                st.next_event()
        with s.exec_stream(["sleep", "1"]) as st, pytest.raises(sandbox.InvalidArgumentError):
            st.signal(99)

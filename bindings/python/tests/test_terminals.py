"""Terminals: write `stty size`, resize, read the new size, a read with a timeout raises
SandboxTimeoutError, kill, wait; a reader thread blocked in a read unblocked by close on
another thread; iteration; attach and replay; typed errors."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import sandbox
from conftest import unique


def drain(t: sandbox.Terminal) -> None:
    while True:
        try:
            t.read(timeout=0.3)
        except sandbox.SandboxTimeoutError:
            return


def test_stty_resize_timeout_kill_wait(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("term"), workdir) as s:
        with s.open_terminal(rows=24, cols=80) as t:
            t.write("stty size\n")
            assert b"24 80" in t.read_until("24 80")
            t.resize(40, 120)
            info = t.info()
            assert (info.rows, info.cols, info.state, info.alive) == (40, 120, "running", True)
            t.write(b"stty size\n")
            t.read_until(b"40 120")
            drain(t)
            with pytest.raises(sandbox.SandboxTimeoutError):
                t.read(timeout=0.2)
            with pytest.raises(sandbox.SandboxTimeoutError):
                t.wait(timeout=0.1)
            t.kill(signal.SIGKILL)
            info = t.wait()
            assert (info.state, info.signal) == ("killed", 9)
            with pytest.raises(sandbox.NotRunningError):
                t.write("x")
            assert t.read() == b"", "at the end a read returns no bytes"
        assert t.closed


def test_iteration_replay_and_list(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("termiter"), workdir) as s:
        t = s.open_terminal("for i in 1 2 3; do echo tick $i; sleep 0.1; done; exit 3", rows=10, cols=30)
        out = b"".join(t)
        assert out == b"tick 1\r\ntick 2\r\ntick 3\r\n"
        info = t.wait()
        assert (info.state, info.exit_code) == ("exited", 3)
        again = s.terminal(t.id)
        assert again.read() == out, "a new handle replays the scrollback"
        listed = s.terminals()
        assert [(i.id, i.rows, i.cols) for i in listed] == [(t.id, 10, 30)]
        with s.open_terminal(["sh", "-c", 'echo "$GREETING:$TERM:$(pwd)"'], env={"GREETING": "hi"}, cwd="/tmp") as t2:
            t2.read_until("hi:xterm-256color:/tmp")
        with pytest.raises(EOFError):
            s.open_terminal("true").read_until("never printed")


def test_a_blocked_reader_is_unblocked_by_close(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("termclose"), workdir) as s:
        t = s.open_terminal("echo ready; exec sleep 60")
        t.read_until("ready")
        drain(t)
        outcome: list[BaseException] = []

        def reader() -> None:
            try:
                for _ in t:
                    pass
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        th = threading.Thread(target=reader)
        th.start()
        time.sleep(0.3)
        assert th.is_alive(), "the reader waits for output"
        t.close()
        th.join(timeout=30)
        assert not th.is_alive() and isinstance(outcome[0], sandbox.ClosedError), outcome
        again = s.terminal(t.id)
        assert again.info().alive, "close does not stop the program"
        again.kill()
        assert again.wait().signal == signal.SIGHUP


def test_terminal_errors_are_typed(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("termerr"), workdir) as s:
        for rows, cols in ((0, 80), (24, 0), (1001, 80), (2**16 + 24, 80), (-1, 80)):
            with pytest.raises(sandbox.InvalidArgumentError):
                s.open_terminal(rows=rows, cols=cols)
        with pytest.raises(sandbox.NotFoundError):
            s.terminal("term-nosuch")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.terminal("../x")
        with pytest.raises(sandbox.NotFoundError):
            s.open_terminal(cwd="/no/such/dir")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.open_terminal(scrollback=1)
        with s.open_terminal() as t:
            with pytest.raises(sandbox.InvalidArgumentError):
                t.resize(0, 10)
            with pytest.raises(sandbox.InvalidArgumentError):
                t.kill(0)
            with pytest.raises(TypeError):
                t.write(123)  # type: ignore[arg-type]
            with pytest.raises(sandbox.InvalidArgumentError):
                t.read(max_bytes=0, timeout=0)

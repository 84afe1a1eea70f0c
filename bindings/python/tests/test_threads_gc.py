"""Threads sharing handles, close() and cancel from another thread, and objects dropped
without close (the garbage collector frees them; nothing leaks)."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

import sandbox
from conftest import unique


def wait_until(predicate, what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def sleep_running(s: sandbox.Session) -> bool:
    return s.exec(["sh", "-c", "ps | grep -v grep | grep -q 'sleep 60'"]).exit_code == 0


def test_many_threads_share_one_session(sb: sandbox.Sandbox, workdir: str) -> None:
    errors: list[BaseException] = []
    with sb.start(unique("threads"), workdir) as s:

        def worker(i: int) -> None:
            try:
                for j in range(25):
                    word = f"{i}-{j}".encode()
                    assert s.exec(["cat"], stdin=word).stdout == word
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_close_wakes_an_exec_blocked_in_another_thread(sb: sandbox.Sandbox, workdir: str) -> None:
    sid = unique("close")
    outcome: list[BaseException] = []
    with sb.start(sid, workdir) as owner:
        blocked = sb.attach(sid)

        def run() -> None:
            try:
                blocked.exec(["sleep", "60"])
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        t = threading.Thread(target=run)
        t.start()
        wait_until(lambda: sleep_running(owner), "the command runs")
        blocked.close()
        t.join(timeout=30)
        assert not t.is_alive(), "close() woke the blocked call"
        assert len(outcome) == 1 and isinstance(outcome[0], sandbox.ClosedError), outcome
        wait_until(lambda: not sleep_running(owner), "the abandoned command was killed")


def test_cancel_token_from_another_thread(sb: sandbox.Sandbox, workdir: str) -> None:
    token = sandbox.CancelToken()
    outcome: list[BaseException] = []
    with sb.start(unique("cancel"), workdir) as s:

        def run() -> None:
            try:
                s.exec(["sleep", "60"], cancel=token)
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        t = threading.Thread(target=run)
        t.start()
        wait_until(lambda: sleep_running(s), "the command runs")
        token.cancel()
        t.join(timeout=30)
        assert isinstance(outcome[0], sandbox.CancelledError), outcome
        assert token.cancelled
        with pytest.raises(sandbox.CancelledError):
            s.exec(["true"], cancel=token)
        assert s.exec(["true"]).success


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_gc_stress_objects_dropped_without_close(scope: str, workdir: str) -> None:
    sid = unique("gc")
    keeper = sandbox.Sandbox(scope=scope, provision=False)
    keeper.start(sid, workdir)  # handle dropped at once; the container keeps running
    gc.collect()
    baseline = native_threads()
    for i in range(15):
        sb = sandbox.Sandbox(scope=scope, provision=False)  # a runtime with its own threads
        s = sb.attach(sid)
        r = s.exec(["echo", str(i)])
        assert r.stdout == f"{i}\n".encode()
        del sb, s, r  # no close(): the finalizers free them
        if i % 5 == 0:
            gc.collect()
    s = keeper.attach(sid)
    for i in range(300):
        token = sandbox.CancelToken()
        r = s.exec(["true"], cancel=token, timeout=10)
        again = keeper.attach(sid) if i % 50 == 0 else None
        del token, r, again
    del s
    gc.collect()
    wait_until(lambda: native_threads() <= baseline + 2, f"runtime threads freed ({native_threads()} vs {baseline})")
    # Sessions dropped from other threads, and the context dropped before its sessions.
    holder = [sandbox.Sandbox(scope=scope, provision=False)]
    sessions = [holder[0].attach(sid) for _ in range(10)]
    holder.clear()
    gc.collect()
    threads = [threading.Thread(target=lambda s=s: s.exec(["true"])) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sessions.clear()
    gc.collect()
    wait_until(lambda: native_threads() <= baseline + 2, "the last session freed its runtime")
    keeper.stop(sid)
    keeper.close()


def test_tasks_terminals_streams_dropped_without_close(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("gcnew"), workdir) as s:
        for i in range(40):
            t = s.spawn(f"echo task {i}")
            term = s.open_terminal("echo hi")
            st = s.exec_stream(["echo", str(i)])
            if i % 2:
                next(iter(st))
            chunk = t.output()
            del t, term, st, chunk  # no close(): the finalizers free them
            if i % 10 == 0:
                gc.collect()
        gc.collect()
        assert len(s.tasks()) == 40, "tasks outlive their handles"
        assert len(s.terminals()) == 40
        # A stream dropped while its command runs kills the command.
        st = s.exec_stream(["sleep", "60"])
        wait_until(lambda: sleep_running(s), "the streamed command runs")
        del st
        gc.collect()
        wait_until(lambda: not sleep_running(s), "the dropped stream's command was killed")
        # A terminal keeps its session object alive: dropping the session first is fine.
        term = s.open_terminal("echo still here; sleep 60")
    # (`with` stopped the session; the terminal handle now reports that, with a typed error.)
    with pytest.raises(sandbox.SandboxError):
        term.write("x")
    del term
    gc.collect()


def test_a_terminal_outlives_a_dropped_session_object(sb: sandbox.Sandbox, workdir: str) -> None:
    sid = unique("gcterm")
    s = sb.start(sid, workdir)
    term = s.open_terminal("echo still here; sleep 60")
    del s
    gc.collect()
    assert b"still here" in term.read_until("still here")
    term.kill(9)
    term.close()
    sb.stop(sid)


def test_threads_share_tasks_terminals_and_streams(sb: sandbox.Sandbox, workdir: str) -> None:
    errors: list[BaseException] = []
    with sb.start(unique("threadsnew"), workdir) as s:
        term = s.open_terminal("cat")  # echoes what it is sent
        words = [f"word{i}" for i in range(30)]

        def writer() -> None:
            try:
                for w in words:
                    term.write(w + "\n")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def worker(i: int) -> None:
            try:
                for j in range(5):
                    t = s.spawn(f"echo {i}-{j}")
                    assert t.read_all() == f"{i}-{j}\n".encode()
                    with s.exec_stream(["cat"]) as st:
                        payload = f"{i}:{j}".encode() * 1000
                        st.write(payload)
                        st.close_stdin()
                        got = b"".join(ev.data for ev in st if isinstance(ev, sandbox.StdoutEvent))
                        assert got == payload
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)] + [threading.Thread(target=writer)]
        for th in threads:
            th.start()
        seen = term.read_until(words[-1] + "\r\n", timeout=60)
        for th in threads:
            th.join()
        assert errors == []
        for w in words:
            assert w.encode() in seen
        term.kill(9)
        term.close()

"""The session's event stream: the conformance scenario every face runs
(tests/conformance/events.json), a reader killed mid-stream resuming from its last
sequence number with nothing lost, async iteration alongside other coroutines, watches,
samples and ports, close and cancel waking a blocked read, and bad input."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import sandbox
from conftest import unique

#: How long a read waits for an event that must come.
WAIT = 30.0


def scenario_file() -> Path:
    """tests/conformance/events.json of the repository (``$SANDBOX_EVENTS_CONFORMANCE``
    names another copy): looked for above this file, as ``tests/conformance`` or
    ``conformance``."""
    named = os.environ.get("SANDBOX_EVENTS_CONFORMANCE")
    if named:
        return Path(named)
    here = Path(__file__).resolve().parent
    for d in [here, *here.parents]:
        for candidate in (d / "tests" / "conformance" / "events.json", d / "conformance" / "events.json"):
            if candidate.is_file():
                return candidate
    pytest.fail(
        "tests/conformance/events.json is not above this copy of the tests: copy tests/conformance next to "
        "them or name the file in SANDBOX_EVENTS_CONFORMANCE"
    )


def sh(s: sandbox.Session, script: str) -> None:
    r = s.exec(["sh", "-c", script])
    assert r.exit_code == 0, f"{script}: {r.stderr!r}"


def watching(s: sandbox.Session) -> sandbox.Event:
    """The agent's `watching` event for the working dir: file changes are seen from then."""
    with s.events(1, kinds=["lifecycle"]) as life:
        return life.wait_for(lambda e: e.action == "watching", WAIT)


def signature(e: sandbox.Event, root: str) -> str:
    """One event as the conformance scenario compares it (see its "about")."""

    def rel(p: Optional[str]) -> Optional[str]:
        if p is None:
            return None
        return (p[len(root):] if p.startswith(root) else p).lstrip("/")

    s = f"{e.kind} {e.action}"
    if e.kind == "file":
        s += f" {rel(e.path) or ''}"
        if e.from_ is not None:
            s += f" from {rel(e.from_)}"
        if e.dir is True:
            s += " dir"
    elif e.kind == "process":
        s += f" {e.process}"
        if e.code is not None:
            s += f" code={e.code}"
        if e.signal is not None:
            s += f" signal={e.signal}"
    elif e.kind == "port":
        s += f" {e.port} {e.command if e.command is not None else '?'}"
    return s


def normalized(sigs: List[str]) -> List[str]:
    """Within one step, drops a `file modified P` after a `file created P` or `file modified P`."""
    touched = set()
    out = []
    for s in sigs:
        f = s.split(" ")
        if f[0] == "file" and len(f) > 2:
            again = f[2] in touched
            if f[1] in ("created", "modified"):
                touched.add(f[2])
            if f[1] == "modified" and again:
                continue
        out.append(s)
    return out


def test_the_conformance_scenario(sb: sandbox.Sandbox, workdir: str) -> None:
    scenario = json.loads(scenario_file().read_text())
    with sb.start(unique("events"), workdir) as s:
        root = os.path.realpath(workdir)
        w = watching(s)
        assert (w.kind, w.path) == ("lifecycle", root)
        settle = scenario["settle_ms"] / 1000
        named: Dict[str, sandbox.Task] = {}
        with s.events(w.seq + 1, kinds=["file", "process", "port"]) as stream:
            for step in scenario["steps"]:
                if "exec" in step:
                    sh(s, step["exec"])
                elif "spawn" in step:
                    task = s.spawn(step["spawn"])
                    if "name" in step:
                        named[step["name"]] = task
                    else:
                        task.close()
                elif "kill" in step:
                    named[step["kill"]].kill(step["signal"])
                elif step.get("stop") is True:
                    s.stop()
                expect = step["expect"]
                got: List[str] = []
                while len(normalized(got)) < len(expect):
                    e = stream.next(timeout=WAIT)
                    if e is None:
                        break
                    got.append(signature(e, root))
                while True:
                    e = stream.next(timeout=settle)
                    if e is None:
                        break
                    got.append(signature(e, root))
                got = normalized(got)
                if step.get("unordered") is True:
                    assert set(got) == set(expect), f"step {step}: got {got}"
                else:
                    assert got == expect, f"step {step}"
            assert stream.ended, "the stream ends after stopped"
            assert stream.next(timeout=0) is None and stream.next() is None, "and stays ended"
        for task in named.values():
            task.close()
        # A stream opened after the stop has only the end to say.
        with s.events(w.seq + 1) as late:
            last = late.next(timeout=WAIT)
            assert last is not None and (last.kind, last.action) == ("lifecycle", "stopped")
            assert late.next(timeout=WAIT) is None and late.ended
            with pytest.raises(sandbox.NotRunningError):
                late.wait_for(lambda e: True, timeout=1)


# The reader the next test kills: follows the file events of a session from a sequence
# number and prints each one as "seq action name" as soon as it has it.
FOLLOWER = r"""
import os, sys
import sandbox

scope, session_id, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
with sandbox.Sandbox(scope=scope, provision=False) as sb:
    s = sb.attach(session_id)
    with s.events(start, kinds=["file"]) as stream:
        print("following", flush=True)
        for e in stream:
            print(e.seq, e.action, os.path.basename(e.path or ""), flush=True)
"""


def test_a_reader_killed_mid_stream_resumes_with_nothing_lost(sb: sandbox.Sandbox, scope: str, workdir: str) -> None:
    with sb.start(unique("evresume"), workdir) as s:
        w = watching(s)
        child = subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, scope, s.id, str(w.seq + 1)],
            stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pipe() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                lines.put(line.strip())
            lines.put(None)

        reader = threading.Thread(target=pipe, daemon=True)
        reader.start()
        printed: List[List[str]] = []

        def printed_names(action: str) -> List[str]:
            return [name for _, a, name in printed if a == action]

        try:
            assert lines.get(timeout=WAIT) == "following"
            sh(s, "for i in 1 2 3; do echo $i > f$i; done")
            while printed_names("created") != ["f1", "f2", "f3"]:
                line = lines.get(timeout=WAIT)
                assert line is not None, f"the follower ended: {printed}"
                printed.append(line.split(" "))
            # More changes while the follower reads; it is killed in the middle of them.
            burst = s.spawn("for i in 4 5 6; do echo $i > f$i; sleep 0.05; done")
            time.sleep(0.1)
        finally:
            child.kill()
            child.wait(timeout=WAIT)
        reader.join(timeout=WAIT)
        while True:
            line = lines.get(timeout=WAIT)
            if line is None:
                break
            printed.append(line.split(" "))
        burst.wait(timeout=WAIT)
        burst.close()
        # The reader is gone; changes go on.
        sh(s, "echo 7 > f7; echo 8 > f8; rm f1")
        last = int(printed[-1][0])
        assert [int(p[0]) for p in printed] == sorted({int(p[0]) for p in printed}), "in order, each once"
        expected = {("created", f"f{i}") for i in range(1, 9)} | {("deleted", "f1")}
        seen = {(a, name) for _, a, name in printed if a != "modified"}
        resumed: List[sandbox.Event] = []
        with s.events(last + 1, kinds=["file"]) as again:
            while seen | {(e.action, os.path.basename(e.path or "")) for e in resumed} != expected:
                e = again.next(timeout=WAIT)
                assert e is not None, f"the stream ended: printed {printed}, resumed {resumed}"
                assert e.kind == "file", f"no gap: {e}"
                resumed.append(e)
            while True:
                e = again.next(timeout=0.5)
                if e is None:
                    break
                resumed.append(e)
        assert resumed[0].seq >= last + 1 and all(a.seq < b.seq for a, b in zip(resumed, resumed[1:]))
        names = [(e.action, os.path.basename(e.path or "")) for e in resumed if e.action != "modified"]
        assert not seen & set(names), f"nothing twice: printed {printed}, resumed {names}"
        assert set(names) | seen == expected and len(names) == len(set(names)), names
        assert names[-3:] == [("created", "f7"), ("created", "f8"), ("deleted", "f1")], names


async def drain(stream: sandbox.EventStream) -> None:
    """Takes events until none comes for half a second (a write's `modified`...)."""
    while await stream.next_async(timeout=0.5) is not None:
        pass


def test_async_iteration_lets_other_coroutines_run(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("evasync"), workdir) as s:
        watching(s)
        threads = set(threading.enumerate())

        async def main() -> None:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.02)
                    ticks += 1

            tick = asyncio.create_task(ticker())
            loop = asyncio.get_running_loop()
            with s.events(kinds=["file"]) as stream:
                # Nothing comes: the wait times out, and the loop ran meanwhile.
                before = ticks
                quiet = await stream.next_async(timeout=0.5)
                assert quiet is None and not stream.ended, quiet
                assert ticks - before >= 10, ticks - before
                # Changes a second from now, made inside the session; `async for` waits.
                s.spawn("sleep 1; echo a > a.txt; echo b > b.txt").close()
                before = ticks
                got = []
                async for e in stream:
                    if e.action == "created":
                        got.append(os.path.basename(e.path or ""))
                    if len(got) == 2:
                        break
                assert got == ["a.txt", "b.txt"], got
                assert ticks - before >= 20, f"the ticker ticked {ticks - before} times in a second"
                assert set(threading.enumerate()) <= threads, "no thread was started to wait"
                # Two coroutines on one stream share the loop's reader; each event goes to one.
                s.spawn("sleep 0.3; mkdir d1; sleep 0.3; mkdir d2").close()
                created = await asyncio.gather(
                    stream.wait_for_async(lambda e: e.action == "created", WAIT),
                    stream.wait_for_async(lambda e: e.action == "created", WAIT),
                )
                assert sorted(os.path.basename(e.path or "") for e in created) == ["d1", "d2"]
                # A cancelled wait leaves no reader behind; the stream reads on.
                await drain(stream)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(stream.next_async(), 0.2)
                assert loop.remove_reader(stream.fileno()) is False
                s.spawn("echo c > c.txt").close()
                e = await stream.wait_for_async(lambda e: e.action == "created", WAIT)
                assert e.path is not None and e.path.endswith("/c.txt")
                # close() wakes a waiting coroutine with ClosedError.
                await drain(stream)
                waiter = asyncio.create_task(stream.next_async())
                await asyncio.sleep(0.2)
                assert not waiter.done()
                stream.close()
                with pytest.raises(sandbox.ClosedError):
                    await waiter
                assert loop.remove_reader(stream.fileno()) is False
            # `async for` ends with the stream, after `stopped` (the stop runs in a thread).
            with s.events(1, kinds=["lifecycle"]) as life:
                await life.wait_for_async(lambda e: e.action == "watching", WAIT)
                stop = loop.run_in_executor(None, s.stop)
                actions = [e.action async for e in life]
                await stop
                assert actions[-1] == "stopped", actions
                assert life.ended
            tick.cancel()

        asyncio.run(main())


def test_watch_samples_ports_and_the_descriptor(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("evmore"), workdir) as s:
        sample = s.stats()
        assert isinstance(sample, sandbox.ResourceSample)
        assert sample.pids >= 1 and sample.memory_bytes > 0 and sample.source in ("cgroup", "proc")
        sh(s, "mkdir -p /tmp/extra")
        s.watch("/tmp/extra")
        s.watch("/tmp/extra")  # a no-op the second time
        with s.events(kinds=["file"], path_prefix="/tmp/extra") as extra:
            assert extra.position is not None
            fd = extra.fileno()
            assert select.select([fd], [], [], 0.2)[0] == [], "nothing to read: not readable"
            sh(s, f"echo x > /tmp/extra/x.txt; echo y > {workdir}/not-below-the-prefix")
            assert select.select([fd], [], [], WAIT)[0] == [fd], "an event makes it readable"
            pos = extra.position
            e = extra.next(timeout=0)
            assert e is not None and (e.kind, e.action, e.path, e.dir) == ("file", "created", "/tmp/extra/x.txt", False)
            assert e.seq == pos and e.time > 1.6e9 and e.pid is None and e.sample is None
            rest = []
            while (r := extra.next(timeout=0.5)) is not None:
                rest.append(r)
            assert all(r.path == "/tmp/extra/x.txt" and r.action == "modified" for r in rest), rest
        # Ports: waited for before and after it listens (the journal has it).
        with s.events(kinds=["process"]) as procs:
            server = s.spawn("exec httpd -f -p 8766")
            first = s.wait_for_port(8766, timeout=WAIT)
            again = s.wait_for_port(8766, timeout=0)
            assert (first.kind, first.action, first.port, first.command) == ("port", "listening", 8766, "httpd")
            assert again.seq == first.seq and first.pid == server.info().pid and first.address
            started = procs.wait_for(lambda e: e.action == "started", WAIT)
            assert (started.process, started.id, started.command) == ("task", server.id, "exec httpd -f -p 8766")
            server.kill()
            exited = procs.wait_for(lambda e: e.action == "exited", WAIT)
            assert (exited.id, exited.signal, exited.code) == (server.id, 15, None)
            server.close()


def test_close_and_cancel_wake_a_blocked_read(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("evclose"), workdir) as s:
        stream = s.events(kinds=["port"])
        outcome: List[BaseException] = []

        def read(**kw) -> None:
            try:
                stream.next(**kw)
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        token = sandbox.CancelToken()
        th = threading.Thread(target=read, kwargs={"cancel": token})
        th.start()
        time.sleep(0.3)
        assert th.is_alive(), "the read waits"
        token.cancel()
        th.join(timeout=WAIT)
        assert not th.is_alive() and isinstance(outcome.pop(), sandbox.CancelledError)
        assert stream.next(timeout=0) is None and not stream.closed, "the stream is unchanged"
        th = threading.Thread(target=read)
        th.start()
        time.sleep(0.3)
        stream.close()
        stream.close()
        th.join(timeout=WAIT)
        assert not th.is_alive() and isinstance(outcome.pop(), sandbox.ClosedError)
        with pytest.raises(sandbox.ClosedError):
            stream.next(timeout=0)
        assert stream.position is not None, "still readable after close"
        # Closing the session's handle closes its streams too.
        other = sb.attach(s.id)
        st = other.events()
        other.close()
        with pytest.raises(sandbox.ClosedError):
            st.next(timeout=WAIT)


def test_bad_input(sb: sandbox.Sandbox, workdir: str) -> None:
    with sb.start(unique("evbad"), workdir) as s:
        for bad in (0, -1):
            with pytest.raises(ValueError, match="from_seq") as e:
                s.events(bad)
            assert isinstance(e.value, sandbox.InvalidArgumentError)
        with pytest.raises(sandbox.InvalidArgumentError):
            s.events(2**64)
        with pytest.raises(TypeError):
            s.events("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            s.events(True)  # type: ignore[arg-type]
        for kinds in (["nope"], ["file", "gap"], [None]):
            with pytest.raises(ValueError, match="kind"):
                s.events(kinds=kinds)  # type: ignore[list-item]
        with pytest.raises(TypeError):
            s.events(kinds="file")
        for prefix in ("src", ""):
            with pytest.raises(sandbox.InvalidArgumentError, match="path prefix"):
                s.events(1, path_prefix=prefix)
        # A `from` beyond the journal: every read of the stream says so.
        with s.events(1_000_000) as future:
            for _ in range(2):
                with pytest.raises(sandbox.InvalidArgumentError):
                    future.next(timeout=WAIT)
            assert select.select([future.fileno()], [], [], 0)[0], "a failed stream answers at once"
        # A filter that matches nothing: no event and no error, within the wait.
        with s.events(1, kinds=["port"], path_prefix="/nowhere") as none:
            started = time.monotonic()
            assert none.next(timeout=0.3) is None and not none.ended
            assert time.monotonic() - started < 5
            with pytest.raises(sandbox.SandboxTimeoutError):
                none.wait_for(lambda e: True, timeout=0.3)
            with pytest.raises(sandbox.InvalidArgumentError):
                none.next(timeout=-1)
        with pytest.raises(sandbox.NotFoundError):
            s.watch("/no/such/dir")
        with pytest.raises(sandbox.InvalidArgumentError):
            s.watch("relative/dir")
        with pytest.raises(sandbox.SandboxTimeoutError):
            s.wait_for_port(8767, timeout=0.3)
        for port in (0, 70000, -1):
            with pytest.raises(sandbox.InvalidArgumentError, match="port"):
                s.wait_for_port(port, timeout=0.3)

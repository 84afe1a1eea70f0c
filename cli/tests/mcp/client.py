"""A scripted session of the official MCP Python SDK against `sandbox mcp`, over stdio,
against real podman. Run by cli/tests/mcp.rs; exits non-zero on the first failure.

usage: client.py SANDBOX ROOT OUTSIDE SESSION FOREIGN_SESSION OUTSIDE_SESSION FOREIGN_TASK OUTSIDE_TASK
  SANDBOX          the sandbox binary
  ROOT             the directory the server may mount (--root)
  OUTSIDE          a directory outside it
  SESSION          the id of the session this script starts
  FOREIGN_SESSION  a running session of another scope, working dir in ROOT
  OUTSIDE_SESSION  a running session of this scope, working dir outside ROOT
  FOREIGN_TASK     a task running in FOREIGN_SESSION
  OUTSIDE_TASK     a task running in OUTSIDE_SESSION
The environment (SANDBOX_SCOPE...) is passed to the server as it is; SANDBOX_COPY_DIR
is the server's copy dir (outside ROOT), where it makes managed copies.
"""

import base64
import http.server
import os
import sys
import threading
import urllib.parse

import anyio
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

SANDBOX, ROOT, OUTSIDE, SESSION, FOREIGN, OUTSIDE_SESSION, FOREIGN_TASK, OUTSIDE_TASK = sys.argv[1:9]
TOOLS = {
    "session_start", "session_list", "session_stop", "session_pause", "session_resume", "exec", "task_spawn", "task_logs", "task_wait",
    "task_kill", "terminal_open", "terminal_send", "terminal_read_until", "terminal_kill", "file_read",
    "file_write", "file_list", "task_list", "terminal_list", "network_log", "session_snapshot", "snapshot_list",
    "snapshot_remove", "session_fork", "session_diff", "session_merge", "copy_remove",
}
# How a child of a snapshot gets its working dir here: no reflinks on this machine, so an
# overlay on the snapshot; rootless, a plain copy where the user's fuse-overlayfs cannot
# serve the snapshot's tree.
CHILD_COPIES = ("overlay", "copy") if os.geteuid() != 0 else ("overlay",)
# What a snapshot may take again while the session is frozen.
RETAKEN = {"working_dir", "container"}
COPIES = os.environ["SANDBOX_COPY_DIR"]


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"ok: {what}", flush=True)


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def call(s, name, args):
    """A call that must succeed; its structured result."""
    r = await s.call_tool(name, args)
    if r.is_error:
        raise Failed(f"{name} {args} failed: {text_of(r)}")
    return r.structured_content


async def refused(s, name, args, kind, what):
    """A call that must fail as a tool error of `kind`; its text."""
    r = await s.call_tool(name, args)
    text = text_of(r)
    check(r.is_error and text.startswith(kind + ":") and r.structured_content["error"]["kind"] == kind,
          f"{what}: {kind} ({text})")
    return text


async def ps(s):
    return (await call(s, "exec", {"session": SESSION, "argv": ["ps"]}))["stdout"]


async def until(what, cond, s, secs=20):
    """Waits until `cond` holds for the output of `ps` in the session."""
    with anyio.move_on_after(secs):
        while not cond(await ps(s)):
            await anyio.sleep(0.1)
        print(f"ok: {what}", flush=True)
        return
    raise Failed(f"not within {secs} s: {what}")


async def scripted(s):
    await s.initialize()
    tools = {t.name: t for t in (await s.list_tools()).tools}
    check(set(tools) == TOOLS, f"the tools are listed: {sorted(tools)}")
    check(tools["exec"].input_schema.get("additionalProperties") is False
          and tools["exec"].input_schema["required"] == ["session", "argv"], "exec has a closed schema")

    started = await call(s, "session_start", {"working_dir": ROOT, "id": SESSION})
    check(started["session"] == SESSION and started["report"]["working_dir"] == os.path.realpath(ROOT),
          "a session starts on the root")
    listed = await call(s, "session_list", {})
    check([x["id"] for x in listed["sessions"]] == [SESSION], f"session_list shows only ours: {listed['sessions']}")
    ran = started["report"]["post_create"]
    check([(p["command"], p["ran"]) for p in ran] == [("touch post-create-ran", False)]
          and not os.path.exists(os.path.join(ROOT, "post-create-ran")), f"a post-create not allowed does not run: {ran}")
    check(listed["policy"]["post_create"] == [], "the policy says none runs")

    # exec: output and exit code; stdin; bytes; timeout; the cap.
    r = await call(s, "exec", {"session": SESSION, "argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    check((r["exit_code"], r["stdout"], r["stderr"], r["signal"], r["timed_out"]) == (3, "out\n", "err\n", None, False),
          f"exec passes output and exit code: {r}")
    r = await call(s, "exec", {"session": SESSION, "argv": ["cat"], "stdin": "fed in"})
    check(r["stdout"] == "fed in", "exec feeds stdin")
    r = await call(s, "exec", {"session": SESSION, "argv": ["sh", "-c", "printf '\\377\\000'"]})
    check(r.get("stdout_base64") == "/wA=" and "stdout" not in r, f"bytes that are not UTF-8 come as base64: {r}")
    r = await call(s, "exec", {"session": SESSION, "argv": ["sleep", "30"], "timeout_secs": 0.3})
    check(r["timed_out"] is True and r["exit_code"] is None, f"a timeout kills the command: {r}")
    r = await call(s, "exec", {"session": SESSION, "argv": ["sh", "-c", "kill -TERM $$"]})
    check(r["signal"] == 15, f"a signal is reported: {r}")
    r = await call(s, "exec", {"session": SESSION, "argv": ["sh", "-c", "yes x | head -c 10000"], "output_cap": 100})
    check((len(r["stdout"]), r["stdout_truncated"], r["stdout_total"]) == (100, True, 10000),
          f"the cap cuts and the total counts all: {r['stdout_total']}")

    # Pause and resume: starts are refused meanwhile.
    p = await call(s, "session_pause", {"session": SESSION})
    check((p["paused"], p["changed"], p["method"]) == (True, True, "signals"), f"session_pause: {p}")
    await refused(s, "exec", {"session": SESSION, "argv": ["true"]}, "not_running", "exec while paused")
    p = await call(s, "session_resume", {"session": SESSION})
    check((p["paused"], p["changed"]) == (False, True), f"session_resume: {p}")
    r = await call(s, "exec", {"session": SESSION, "argv": ["echo", "back"]})
    check(r["stdout"] == "back\n", "exec runs again after session_resume")

    # Progress: a notification every second while the command runs.
    notes = []

    async def on_progress(progress, total, message):
        notes.append((progress, message))

    r = await s.call_tool("exec", {"session": SESSION, "argv": ["sh", "-c", "echo a; sleep 2.5; echo b"]},
                          progress_callback=on_progress)
    check(not r.is_error and r.structured_content["stdout"] == "a\nb\n", "exec with progress returns the output")
    check(len(notes) >= 2 and all("bytes of output" in m for _, m in notes)
          and all(a[0] < b[0] for a, b in zip(notes, notes[1:])), f"progress notifications came: {notes}")
    check(any("2 bytes of output" in m for _, m in notes), "they count the output so far")

    # A task, its logs followed to the end by offset, its exit code.
    t = await call(s, "task_spawn", {"session": SESSION,
                                     "argv": ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done; exit 4"]})
    task = t["task"]
    out, offset, reads = "", 0, 0
    while True:
        chunk = await call(s, "task_logs", {"session": SESSION, "task": task, "offset": offset, "wait_secs": 5})
        out += chunk["output"]
        offset = chunk["next_offset"]
        reads += 1
        if chunk["eof"]:
            break
        if reads >= 50:
            raise Failed("the task does not end")
    check(out == "line1\nline2\nline3\n" and reads >= 2, f"task logs followed to the end: {out!r} in {reads} reads")
    w = await call(s, "task_wait", {"session": SESSION, "task": task})
    check((w["state"], w["exit_code"]) == ("exited", 4), f"task_wait reports the exit: {w}")
    tail = await call(s, "task_logs", {"session": SESSION, "task": task, "tail": 6})
    check(tail["output"] == "line3\n", "task_logs tail gives the last bytes")
    await refused(s, "task_kill", {"session": SESSION, "task": task}, "not_running", "killing an ended task")
    long = (await call(s, "task_spawn", {"session": SESSION, "argv": ["sleep", "60"]}))["task"]
    await refused(s, "task_wait", {"session": SESSION, "task": long, "timeout_secs": 0.2}, "timeout", "a wait that times out")
    await call(s, "task_kill", {"session": SESSION, "task": long, "signal": "KILL"})
    w = await call(s, "task_wait", {"session": SESSION, "task": long, "timeout_secs": 10})
    check(w["signal"] == 9, f"task_kill sends the signal: {w}")

    # Files, in the container and on the host.
    await call(s, "file_write", {"session": SESSION, "path": "notes.txt", "content": "some notes\n"})
    r = await call(s, "file_read", {"session": SESSION, "path": "notes.txt"})
    check((r["content"], r["size"], r["truncated"]) == ("some notes\n", 11, False), "file_read reads what was written")
    with open(os.path.join(ROOT, "notes.txt")) as f:
        check(f.read() == "some notes\n", "the file is in the working dir on the host")
    await call(s, "file_write", {"session": SESSION, "path": "bin.dat", "content_base64": "/wABAg==", "mode": "600"})
    r = await call(s, "file_read", {"session": SESSION, "path": "bin.dat", "max_bytes": 2})
    check((r.get("content_base64"), r["size"], r["truncated"]) == ("/wA=", 4, True), f"bytes and max_bytes: {r}")
    blob = bytes(range(256)) * 12288 + b"\xff"  # 3 MiB and a byte, not UTF-8
    await call(s, "file_write", {"session": SESSION, "path": "blob.bin", "content_base64": base64.b64encode(blob).decode()})
    r = await call(s, "file_read", {"session": SESSION, "path": "blob.bin", "max_bytes": 4 << 20})
    check(base64.b64decode(r["content_base64"]) == blob and r["truncated"] is False, "3 MiB of bytes go and come back")
    text = await refused(s, "file_write", {"session": SESSION, "path": "huge.txt", "content": "x" * (17 << 20)},
                         "invalid_input", "17 MiB in one call")
    check("more than one call takes" in text, "the error says why")
    entries = {e["name"]: e for e in (await call(s, "file_list", {"session": SESSION}))["entries"]}
    check(entries["notes.txt"]["size"] == 11 and entries["bin.dat"]["mode"] == "600", "file_list lists them")
    await refused(s, "file_read", {"session": SESSION, "path": "missing.txt"}, "not_found", "a missing file")

    # A terminal: type, read until the answer.
    term = (await call(s, "terminal_open", {"session": SESSION}))["terminal"]
    await call(s, "terminal_send", {"session": SESSION, "terminal": term, "text": "echo sum=$((40+2))\n"})
    r = await call(s, "terminal_read_until", {"session": SESSION, "terminal": term, "until": "sum=42"})
    check(r["found"] is True and "sum=42" in r["output"], "terminal_read_until finds the text")
    r = await call(s, "terminal_read_until", {"session": SESSION, "terminal": term, "offset": r["next_offset"],
                                              "until": "never", "wait_secs": 0.2})
    check(r["found"] is False, "text that does not come is found: false")
    await resources(s, task, long, term, blob)
    await call(s, "terminal_kill", {"session": SESSION, "terminal": term, "signal": 9})

    # Cancelling a running exec kills the command in the container.
    scope = anyio.CancelScope()
    finished = []

    async def long_exec():
        with scope:
            await s.call_tool("exec", {"session": SESSION, "argv": ["sleep", "313"]})
            finished.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(long_exec)
        await until("the long exec runs", lambda out: "sleep 313" in out, s)
        scope.cancel()
    check(not finished, "the call was cancelled")
    await until("cancelling the call killed the command in the container", lambda out: "sleep 313" not in out, s)

    # Widening the policy is refused: a directory outside the roots (also through a
    # symlink), the image, network, limits, post-create commands, the scope, other scopes'
    # sessions and our scope's sessions outside the roots.
    await refused(s, "session_start", {"working_dir": OUTSIDE}, "permission_denied", "a working dir outside the roots")
    os.symlink(OUTSIDE, os.path.join(ROOT, "escape"))
    await refused(s, "session_start", {"working_dir": "escape"}, "permission_denied", "a symlink out of the roots")
    await refused(s, "session_start", {"working_dir": "/"}, "permission_denied", "the host's root")
    for extra in [{"image": "docker.io/library/alpine"}, {"network": "bridge"}, {"memory": "64g"},
                  {"limits": {"pids": 100000}}, {"cpus": 64}, {"post_create": ["touch /x"]},
                  {"allow_post_create": True}, {"scope": "other"}, {"allow_untrusted_image": True},
                  {"ports": [8080]}]:
        key = next(iter(extra))
        text = await refused(s, "session_start", {"working_dir": ROOT, **extra}, "invalid_input", f"no {key} argument")
        check(f"unknown field `{key}`" in text, f"the error names {key}")
    text = await refused(s, "session_start", {"working_dir": ROOT, "allow_hosts": ["pypi.org"]}, "permission_denied",
                         "allow_hosts where the user's network is not egress")
    check("network" in text, f"the error says why: {text}")
    await refused(s, "network_log", {"session": SESSION}, "invalid_input", "the network log of a session not on egress")
    await refused(s, "exec", {"session": FOREIGN, "argv": ["true"]}, "session_not_found", "another scope's session")
    await refused(s, "session_stop", {"session": FOREIGN}, "session_not_found", "stopping another scope's session")
    await refused(s, "exec", {"session": OUTSIDE_SESSION, "argv": ["true"]}, "session_not_found",
                  "our scope's session outside the roots")
    listed = await call(s, "session_list", {})
    check([x["id"] for x in listed["sessions"]] == [SESSION], "session_list still shows only ours")

    # Bad input: clear tool errors.
    await refused(s, "exec", {"session": SESSION, "argv": ["true"], "shell": True}, "invalid_input", "an unknown argument")
    await refused(s, "exec", {"session": SESSION}, "invalid_input", "a missing argument")
    await refused(s, "exec", {"session": SESSION, "argv": "true"}, "invalid_input", "an argument of the wrong type")
    await refused(s, "exec", {"session": SESSION, "argv": []}, "invalid_input", "an empty argv")
    await refused(s, "exec", {"session": SESSION, "argv": ["true"], "timeout_secs": -1}, "invalid_input", "a negative timeout")
    await refused(s, "exec", {"session": SESSION, "argv": ["true"], "output_cap": 1 << 40}, "invalid_input", "a huge cap")
    await refused(s, "exec", {"session": "no-such-session", "argv": ["true"]}, "session_not_found", "a missing session")
    await refused(s, "exec", {"session": "bad id!", "argv": ["true"]}, "invalid_input", "a bad session id")
    await refused(s, "task_logs", {"session": SESSION, "task": "../etc"}, "invalid_input", "a bad task id")
    await refused(s, "task_wait", {"session": SESSION, "task": "task-0000000000000000"}, "not_found", "an unknown task")
    await refused(s, "task_logs", {"session": SESSION, "task": task, "offset": 0, "tail": 5}, "invalid_input",
                  "offset and tail together")
    await refused(s, "terminal_send", {"session": SESSION, "terminal": "../x", "text": "x"}, "invalid_input",
                  "a bad terminal id")
    await refused(s, "task_kill", {"session": SESSION, "task": task, "signal": "BOGUS"}, "invalid_input", "a bad signal")
    await refused(s, "file_write", {"session": SESSION, "path": "x", "content": "a", "content_base64": "YQ=="},
                  "invalid_input", "two contents")
    await refused(s, "file_write", {"session": SESSION, "path": "x", "content": "a", "mode": "4755"}, "invalid_input",
                  "a setuid mode")
    try:
        await s.call_tool("no_such_tool", {})
        raise Failed("an unknown tool was called")
    except MCPError as e:
        check("no_such_tool" in str(e), f"an unknown tool is a protocol error: {e}")

    await call(s, "session_stop", {"session": SESSION})
    await refused(s, "exec", {"session": SESSION, "argv": ["true"]}, "session_not_found", "a stopped session")

    # Copies of snapshots go in no running session's working dir, and SESSION's is the
    # whole root: the snapshots come after it.
    await snapshots(s)
    listed = await call(s, "session_list", {})
    check(listed["sessions"] == [], "no session is left")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


async def snapshots(s):
    """Snapshot a session, start one from it, fork it, diff and merge a child: every
    directory in the root; bad input refused; everything stopped and removed at the end."""
    os.makedirs(os.path.join(ROOT, "proj", "src"))
    with open(os.path.join(ROOT, "proj", "src", "main.py"), "w") as f:
        f.write("print('v1')\n")
    parent = SESSION + "-p"
    await call(s, "session_start", {"working_dir": "proj", "id": parent})
    snap = await call(s, "session_snapshot", {"session": parent, "name": "base"})
    check((snap["name"], snap["session"], snap["files"], snap["freeze"], snap["working_dir"])
          == ("base", parent, 1, "signals", os.path.realpath(os.path.join(ROOT, "proj"))), f"session_snapshot: {snap}")
    check(snap["took_ms"] > 0 and snap["copy"] in ("reflink", "copy"), f"it says how long and how: {snap}")
    check(isinstance(snap["retaken"], list) and set(snap["retaken"]) <= RETAKEN, f"what it took again: {snap}")
    await refused(s, "session_snapshot", {"session": parent, "name": "base"}, "invalid_input", "a snapshot name taken")
    await refused(s, "session_snapshot", {"session": FOREIGN, "name": "theirs"}, "session_not_found",
                  "a snapshot of another scope's session")
    listed = (await call(s, "snapshot_list", {}))["snapshots"]
    check([(x["name"], x["session"]) for x in listed] == [("base", parent)], f"snapshot_list: {listed}")

    # A session started from it: a new directory in the root, a copy of the snapshot's.
    child = SESSION + "-c"
    started = await call(s, "session_start", {"working_dir": "from-base", "id": child, "snapshot": "base"})
    check(started["report"]["snapshot"]["name"] == "base" and started["report"]["image"]["reason"] == "snapshot"
          and read("from-base", "src", "main.py") == "print('v1')\n", f"session_start from a snapshot: {started}")
    check(started["report"]["snapshot"]["copy"] in CHILD_COPIES and started["working_dir"]
          == os.path.join(os.path.realpath(ROOT), "from-base"), f"how its copy was made, and where: {started}")
    await refused(s, "session_start", {"working_dir": "proj", "snapshot": "base"}, "invalid_input",
                  "a start from a snapshot into a dir that exists")
    await refused(s, "session_start", {"working_dir": "nowhere", "snapshot": "nope"}, "not_found", "an unknown snapshot")
    await refused(s, "session_start", {"working_dir": os.path.join(OUTSIDE, "copy"), "snapshot": "base"},
                  "permission_denied", "a copy outside the roots")
    check(not os.path.exists(os.path.join(ROOT, "nowhere")), "a refused start makes no directory")

    # No working_dir: a managed copy, made by the server in its copy dir, outside the roots.
    check(not os.path.exists(COPIES), "no copy dir before the first managed copy")
    managed_id = SESSION + "-m"
    managed = await call(s, "session_start", {"id": managed_id, "snapshot": "base"})
    managed_dir = managed["working_dir"]
    check(managed_dir == os.path.join(os.path.realpath(COPIES), managed_id) and managed["session"] == managed_id
          and managed["report"]["working_dir"] == managed_dir and managed["report"]["snapshot"]["name"] == "base",
          f"session_start from a snapshot without working_dir: {managed}")
    with open(os.path.join(managed_dir, "src", "main.py")) as f:
        check(f.read() == "print('v1')\n", "the snapshot's file is in the managed copy")
    r = await call(s, "exec", {"session": managed_id, "argv": ["cat", "src/main.py"]})
    check(r["stdout"] == "print('v1')\n", "the session on a managed copy is usable though outside the roots")
    ids = [x["id"] for x in (await call(s, "session_list", {}))["sessions"]]
    check(managed_id in ids, f"session_list shows it: {ids}")
    snap2 = await call(s, "session_snapshot", {"session": managed_id, "name": "of-managed"})
    check(snap2["working_dir"] == managed_dir and set(snap2["retaken"]) <= RETAKEN, f"its snapshot: {snap2}")
    names = sorted(x["name"] for x in (await call(s, "snapshot_list", {}))["snapshots"])
    check(names == ["base", "of-managed"], f"snapshot_list shows a managed copy's snapshot: {names}")
    await call(s, "snapshot_remove", {"name": "of-managed"})
    await refused(s, "copy_remove", {"path": managed_dir}, "invalid_input", "removing a running session's managed copy")
    await refused(s, "copy_remove", {"path": os.path.join(managed_dir, "src")}, "permission_denied",
                  "a path inside a managed copy, outside the roots")

    # A fork: two children in forks/, ids <id>-1 and <id>-2.
    os.makedirs(os.path.join(ROOT, "forks"))
    prefix = SESSION + "-k"
    fork = await call(s, "session_fork", {"session": parent, "count": 2, "into": "forks", "id": prefix,
                                          "snapshot": "forked"})
    kids = [c["id"] for c in fork["children"]]
    forks = os.path.join(os.path.realpath(ROOT), "forks")
    kid_dirs = [c["working_dir"] for c in fork["children"]]
    check(kids == [prefix + "-1", prefix + "-2"] and fork["snapshot"]["name"] == "forked"
          and kid_dirs == [os.path.join(forks, k) for k in kids], f"session_fork: {fork}")
    kid_copies = [c["copy"] for c in fork["children"]]
    check(all(c in CHILD_COPIES for c in kid_copies), f"how the children's copies were made: {kid_copies}")
    await refused(s, "session_fork", {"session": parent, "count": 0, "into": "forks"}, "invalid_input",
                  "a fork of 0 children")
    await refused(s, "session_fork", {"session": parent, "count": 1, "into": "forks", "id": prefix}, "invalid_input",
                  "a fork whose child dir exists")
    await refused(s, "session_fork", {"session": parent, "count": 1, "into": OUTSIDE}, "permission_denied",
                  "a fork outside the roots")
    names = sorted(x["name"] for x in (await call(s, "snapshot_list", {}))["snapshots"])
    check(names == ["base", "forked"], f"refused forks take no snapshot: {names}")

    # The diff of a child; merging it into the parent; a conflict; force.
    await call(s, "exec", {"session": kids[0], "argv": ["sh", "-c", "echo \"print('v2')\" > src/main.py && echo n > notes.md"]})
    d = await call(s, "session_diff", {"session": kids[0]})
    check([(c["path"], c["kind"], c["entry"], c["size"]) for c in d["changes"]]
          == [("notes.md", "added", "file", 2), ("src/main.py", "modified", "file", 12)] and d["total"] == 2,
          f"session_diff: {d}")
    d = await call(s, "session_diff", {"session": kids[0], "max_changes": 1})
    check(len(d["changes"]) == 1 and d["total"] == 2, f"max_changes keeps the first: {d}")
    d = await call(s, "session_diff", {"session": kids[1]})
    check(d["changes"] == [] and d["total"] == 0, f"a sibling's changes are not its own: {d}")
    await refused(s, "session_diff", {"session": parent}, "invalid_input", "the diff of a session not from a snapshot")
    await refused(s, "session_diff", {"session": kids[0], "snapshot": "nope"}, "not_found", "the diff against no snapshot")
    m = await call(s, "session_merge", {"session": kids[0], "into_session": parent})
    check((m["changes"], m["applied"]) == (2, 2) and read("proj", "src", "main.py") == "print('v2')\n",
          f"session_merge into the parent: {m}")
    await call(s, "exec", {"session": kids[1], "argv": ["sh", "-c", "echo other > src/main.py && echo x > two.md"]})
    text = await refused(s, "session_merge", {"session": kids[1], "into_session": parent}, "invalid_input",
                         "a merge where both changed a path")
    check("src/main.py" in text and not os.path.exists(os.path.join(ROOT, "proj", "two.md")),
          f"it names the path and changes nothing: {text}")
    await refused(s, "session_merge", {"session": kids[1], "into": OUTSIDE}, "permission_denied",
                  "a merge outside the roots")
    await refused(s, "session_merge", {"session": kids[1]}, "invalid_input", "a merge without a target")
    m = await call(s, "session_merge", {"session": kids[1], "into_session": parent, "force": True})
    check(read("proj", "src", "main.py") == "other\n" and read("proj", "two.md") == "x\n", f"force: the child wins: {m}")

    # Removal: refused while children use it; a copy, while its session runs; then the
    # copies go, then the snapshots.
    await refused(s, "snapshot_remove", {"name": "forked"}, "invalid_input", "removing a snapshot children use")
    text = await refused(s, "copy_remove", {"path": kid_dirs[0]}, "invalid_input", "removing a running child's copy")
    check(kids[0] in text and "stop" in text and os.path.exists(os.path.join(kid_dirs[0], "notes.md")),
          f"it names the session and removes nothing: {text}")
    text = await refused(s, "copy_remove", {"path": os.path.join("forks", kids[0])}, "invalid_input", "a relative path")
    check("absolute" in text, f"the error says why: {text}")
    await refused(s, "copy_remove", {"path": os.path.join(OUTSIDE, "copy")}, "permission_denied",
                  "a copy outside the roots")
    await refused(s, "copy_remove", {"path": os.path.join(os.path.realpath(ROOT), "proj")}, "invalid_input",
                  "the running parent's working dir")
    for sid in kids + [child, managed_id, parent]:
        await call(s, "session_stop", {"session": sid})
    check(read("forks", kids[1], "two.md") == "x\n", "a stopped child's copy stays: its changes are its output")
    if "overlay" in kid_copies:
        text = await refused(s, "snapshot_remove", {"name": "forked"}, "invalid_input",
                             "removing a snapshot overlay copies read from")
        check(kid_dirs[kid_copies.index("overlay")] in text, f"the refusal names the copies: {text}")
    await refused(s, "copy_remove", {"path": os.path.join(os.path.realpath(ROOT), "proj")}, "not_found",
                  "a working dir that is no copy")
    for path in kid_dirs + [started["working_dir"], managed_dir]:
        r = await call(s, "copy_remove", {"path": path})
        check(r == {"removed": path} and not os.path.exists(path), f"copy_remove: {r}")
    check(not os.path.exists(COPIES), "the copy dir went with its last managed copy")
    await refused(s, "copy_remove", {"path": kid_dirs[0]}, "not_found", "a copy removed already")
    await refused(s, "copy_remove", {"path": managed_dir}, "not_found", "a managed copy removed already")
    for name in ["base", "forked"]:
        await call(s, "snapshot_remove", {"name": name})
    await refused(s, "snapshot_remove", {"name": "base"}, "not_found", "a removed snapshot")
    check((await call(s, "snapshot_list", {}))["snapshots"] == [], "no snapshot is left")


async def not_readable(s, uri, code, what):
    """A resource read that must fail with JSON-RPC error `code`."""
    try:
        await s.read_resource(uri)
    except MCPError as e:
        check(e.code == code, f"{what}: error {code} ({e.code} {e})")
        return
    raise Failed(f"{what}: {uri} was read")


async def resources(s, task, long, term, blob):
    """The list tools, and output and files as resources."""
    tasks = {x["id"]: x for x in (await call(s, "task_list", {"session": SESSION}))["tasks"]}
    check(set(tasks) == {task, long} and tasks[task]["exit_code"] == 4 and tasks[long]["signal"] == 9,
          f"task_list lists both tasks as they ended: {tasks}")
    terms = (await call(s, "terminal_list", {"session": SESSION}))["terminals"]
    check([(x["id"], x["state"]) for x in terms] == [(term, "running")], f"terminal_list lists the terminal: {terms}")

    base = f"sandbox://sessions/{SESSION}"
    templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
    check(templates == {"sandbox://sessions/{session}/tasks/{task}/{stream}",
                        "sandbox://sessions/{session}/terminals/{terminal}/output",
                        "sandbox://sessions/{session}/files/{+path}"}, f"three resource templates: {templates}")
    listed = {r.uri for r in (await s.list_resources()).resources}
    check(listed == {f"{base}/tasks/{task}/merged", f"{base}/tasks/{long}/merged", f"{base}/terminals/{term}/output"},
          f"resources/list has our tasks and terminal and nothing of the bystanders: {listed}")

    c = (await s.read_resource(f"{base}/tasks/{task}/merged")).contents[0]
    check(c.text == "line1\nline2\nline3\n" and c.mime_type == "text/plain"
          and (c.meta["finished"], c.meta["end"], c.meta["eof"]) == (True, 18, True), f"a task's output: {c}")
    c = (await s.read_resource(f"{base}/tasks/{task}/stderr")).contents[0]
    check(c.text == "" and c.meta["end"] == 0, "a task's stderr, empty")
    c = (await s.read_resource(f"{base}/terminals/{term}/output")).contents[0]
    check("sum=42" in c.text, "a terminal's output")
    c = (await s.read_resource(f"{base}/files/notes.txt")).contents[0]
    check((c.text, c.meta["size"], c.meta["truncated"]) == ("some notes\n", 11, False), "a file by relative path")
    absolute = os.path.join(os.path.realpath(ROOT), "notes.txt")
    c = (await s.read_resource(f"{base}/files/{urllib.parse.quote(absolute)}")).contents[0]
    check(c.text == "some notes\n", f"a file by absolute path ({c.uri})")
    await call(s, "file_write", {"session": SESSION, "path": "a b%.txt", "content": "spaced"})
    c = (await s.read_resource(f"{base}/files/a%20b%25.txt")).contents[0]
    check(c.text == "spaced", "a percent-encoded path")
    c = (await s.read_resource(f"{base}/files/blob.bin")).contents[0]
    check(base64.b64decode(c.blob) == blob and c.mime_type == "application/octet-stream", "bytes come as a blob")

    await not_readable(s, f"{base}/files/missing.txt", -32002, "a missing file")
    await not_readable(s, f"{base}/tasks/task-0000000000000000/merged", -32002, "an unknown task")
    await not_readable(s, f"sandbox://sessions/{FOREIGN}/tasks/{FOREIGN_TASK}/merged", -32002,
                       "a task of another scope's session")
    await not_readable(s, f"sandbox://sessions/{OUTSIDE_SESSION}/tasks/{OUTSIDE_TASK}/merged", -32002,
                       "a task of a session outside the roots")
    await not_readable(s, f"sandbox://sessions/{OUTSIDE_SESSION}/files/{urllib.parse.quote(OUTSIDE)}", -32002,
                       "a file of a session outside the roots")
    await not_readable(s, f"{base}/tasks/{task}/everything", -32602, "a bad stream")
    await not_readable(s, "file:///etc/passwd", -32602, "another scheme")


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello through the proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def egress(s, port):
    """A server whose user allows two pinned names and the web server's port: a model may
    narrow that, never widen it, and the log shows what happened."""
    await s.initialize()
    policy = (await call(s, "session_list", {}))["policy"]
    check(policy["network"] == "egress" and policy["egress"]["allow"] == ["allowed.test", "other.test", f"127.0.0.1:{port}"]
          and policy["egress"]["pinned"] == ["allowed.test", "other.test"], f"the policy shows the egress rules: {policy}")
    for wider, kind in [(["evil.test"], "permission_denied"), (["*.other.test"], "permission_denied"),
                        (["127.0.0.0/8"], "permission_denied"), (["127.0.0.1"], "permission_denied"),
                        (["*"], "invalid_input"), (["allowed.test", ""], "invalid_input")]:
        await refused(s, "session_start", {"working_dir": ROOT, "allow_hosts": wider}, kind, f"allow_hosts {wider}")
    egress_id = SESSION + "-egress"
    started = await call(s, "session_start", {"working_dir": ROOT, "id": egress_id,
                                              "allow_hosts": ["allowed.test", f"127.0.0.1:{port}"]})
    report = started["report"]
    check(report["network"] == "egress" and report["egress"]["rules"] == ["allowed.test", f"127.0.0.1:{port}"],
          f"the session starts with the narrowed rules: {report['egress']}")
    get = "wget -q -O- http://{}:%d/ 2>&1; echo; echo rc=$?" % port
    r = await call(s, "exec", {"session": egress_id, "argv": ["sh", "-c", get.format("allowed.test")]})
    check("hello through the proxy" in r["stdout"], f"an allowed host is reached: {r['stdout']}")
    r = await call(s, "exec", {"session": egress_id, "argv": ["sh", "-c", get.format("other.test")]})
    check("403" in r["stdout"] and "hello" not in r["stdout"],
          f"a host the user allows but this session did not ask for is refused: {r['stdout']}")
    with anyio.move_on_after(10):
        while True:
            log = await call(s, "network_log", {"session": egress_id})
            if any(d["host"] == "allowed.test" for d in log["decisions"]):
                break
            await anyio.sleep(0.1)
    hosts = {(d["host"], d["allowed"]) for d in log["decisions"]}
    check({("allowed.test", True), ("other.test", False)} <= hosts and log["total"] == len(log["decisions"]),
          f"network_log shows both: {log}")
    process = next(d for d in log["decisions"] if d["host"] == "allowed.test").get("process") or ""
    check(process.endswith(" wget") and process[:1].isdigit(), f"network_log names the process (pid wget): {log}")
    one = await call(s, "network_log", {"session": egress_id, "last": 1})
    check(len(one["decisions"]) == 1 and one["total"] == log["total"], "last keeps the last ones")
    await call(s, "session_stop", {"session": egress_id})


async def main():
    # A post-create command the policy does not allow: it must not run.
    args = ["mcp", "--root", ROOT, "--post-create", "touch post-create-ran"]
    server = StdioServerParameters(command=SANDBOX, args=args, env=dict(os.environ))
    with anyio.fail_after(240):
        async with stdio_client(server) as (read, write):
            async with ClientSession(read, write) as s:
                await scripted(s)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    port = web.server_address[1]
    args = ["mcp", "--root", ROOT, "--allow-host", "allowed.test", "--allow-host", "other.test",
            "--allow-host", f"127.0.0.1:{port}", "--pin-host", "allowed.test=127.0.0.1",
            "--pin-host", "other.test=127.0.0.1"]
    server = StdioServerParameters(command=SANDBOX, args=args, env=dict(os.environ))
    with anyio.fail_after(120):
        async with stdio_client(server) as (read, write):
            async with ClientSession(read, write) as s:
                await egress(s, port)
    web.shutdown()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    try:
        anyio.run(main)
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)

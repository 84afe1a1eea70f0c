"""A session whose container died stays readable from a NEW process: its task list and
info, its task's whole output (byte-exact), its terminal's output; exec says the session
is lost; stop still removes everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import sandbox
from conftest import leftovers, unique

# The new process: attaches to the session, reads everything, tries an exec, stops the
# session, and prints what it saw as JSON (bytes as hex).
READER = r"""
import json, sys
import sandbox

scope, session_id, task_id, term_id = sys.argv[1:]
seen = {}
with sandbox.Sandbox(scope=scope, provision=False) as sb:
    s = sb.attach(session_id)
    seen["tasks"] = [[t.id, t.state, t.exit_code] for t in s.tasks()]
    task = s.task(task_id)
    info = task.info()
    seen["info"] = [info.id, info.state, info.exit_code, info.command]
    seen["stdout"] = task.read_all("stdout").hex()
    seen["stderr"] = task.read_all("stderr").hex()
    seen["merged_len"] = len(task.read_all())
    seen["terminals"] = [t.id for t in s.terminals()]
    seen["screen"] = b"".join(s.terminal(term_id)).hex()
    try:
        s.exec(["true"], timeout=30)
        seen["exec_error"] = None
    except sandbox.SandboxError as e:
        seen["exec_error"] = [type(e).__name__, str(e)]
    s.stop()
print(json.dumps(seen))
"""

# More than one read of the bindings' follow (1 MiB): `seq 1 200000` is 1.29 MB.
TASK = "seq 1 200000; printf '\\377\\376\\000end\\n'; echo err-line >&2; exit 3"
STDOUT = "".join(f"{i}\n" for i in range(1, 200001)).encode() + b"\xff\xfe\x00end\n"
STDERR = b"err-line\n"


def test_a_lost_session_stays_readable_from_a_new_process(sb: sandbox.Sandbox, scope: str, workdir: str) -> None:
    s = sb.start(unique("lost"), workdir)
    task = s.spawn(TASK)
    assert task.wait(timeout=60).exit_code == 3
    # Read to the end while the agent lives: everything is in the spool before it dies.
    assert task.read_all("stdout") == STDOUT
    assert task.read_all("stderr") == STDERR
    term = s.open_terminal("echo term-$((40 + 2)); exec sleep 300")
    assert b"term-42" in term.read_until("term-42", timeout=30)

    container = next(row["container"] for row in sb.list() if row["id"] == s.id)
    control = subprocess.run(
        ["podman", "inspect", "--format", '{{index .Config.Labels "sandbox.control"}}', container],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert os.path.isdir(control), control
    subprocess.run(["podman", "kill", container], capture_output=True, check=True)
    subprocess.run(["podman", "wait", container], capture_output=True, check=True)

    child = subprocess.run(
        [sys.executable, "-c", READER, scope, s.id, task.id, term.id], capture_output=True, timeout=300
    )
    assert child.returncode == 0, child.stderr.decode(errors="replace")
    seen = json.loads(child.stdout)
    assert seen["tasks"] == [[task.id, "exited", 3]]
    assert seen["info"][:3] == [task.id, "exited", 3] and "seq 1 200000" in seen["info"][3]
    stdout = bytes.fromhex(seen["stdout"])
    assert len(stdout) == len(STDOUT), f"read {len(stdout)} of {len(STDOUT)} bytes of stdout"
    assert stdout == STDOUT
    assert bytes.fromhex(seen["stderr"]) == STDERR
    assert seen["merged_len"] == len(STDOUT) + len(STDERR)
    assert seen["terminals"] == [term.id]
    assert b"term-42" in bytes.fromhex(seen["screen"])
    assert seen["exec_error"] is not None and seen["exec_error"][0] == "SessionLostError", seen["exec_error"]
    assert "is lost" in seen["exec_error"][1]

    # The new process's stop removed the container and the control dir.
    assert leftovers(scope) == []
    assert not os.path.exists(control), control
    assert sb.list() == []

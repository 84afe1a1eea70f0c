"""The README's Python example: a session, a command, a terminal, a background task."""
import sys

import sandbox

workdir = sys.argv[1] if len(sys.argv) > 1 else "."
with sandbox.Sandbox() as sb:                                   # config file + SANDBOX_* variables
    with sb.start("py-example", workdir) as s:                  # `with` stops the session at the end
        r = s.exec(["sh", "-c", "echo hello from $(uname -s)"], timeout=10)
        print(f"exit {r.exit_code}: {r.stdout.decode()}", end="")
        r = s.exec(["wc", "-c"], stdin=b"bytes\x00in")
        print(r.stdout.decode().strip(), "bytes through stdin")
        with s.open_terminal(rows=24, cols=80) as term:         # a PTY running a shell; killed at the end
            term.write("stty size\n")
            term.read_until("24 80")
            term.resize(40, 120)
            term.write("stty size\n")
            print("terminal resized:", b"40 120" in term.read_until("40 120"))
        task = s.spawn("for i in 1 2 3; do echo tick $i; done")  # lives in the session, outlives this process
        print("task:", task.read_all().decode().split(), "exit", task.wait().exit_code)
        try:
            sb.attach("no-such-session")
        except sandbox.SessionNotFoundError as e:
            print("typed error:", e.status.name)

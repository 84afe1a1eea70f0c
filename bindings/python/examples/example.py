"""The README's Python example: start a session, run commands, stop it."""
import sys

import sandbox

workdir = sys.argv[1] if len(sys.argv) > 1 else "."
with sandbox.Sandbox() as sb:                                   # config file + SANDBOX_* variables
    with sb.start("py-example", workdir) as s:                  # `with` stops the session at the end
        r = s.exec(["sh", "-c", "echo hello from $(uname -s)"], timeout=10)
        print(f"exit {r.exit_code}: {r.stdout.decode()}", end="")
        r = s.exec(["wc", "-c"], stdin=b"bytes\x00in")
        print(r.stdout.decode().strip(), "bytes through stdin")
        try:
            sb.attach("no-such-session")
        except sandbox.SessionNotFoundError as e:
            print("typed error:", e.status.name)

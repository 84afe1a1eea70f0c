"""The README's Python events example: wait for a server, follow file changes, resume."""
import os
import sys

import sandbox

workdir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
os.makedirs(f"{workdir}/src", exist_ok=True)                       # a project with a src/ directory
with sandbox.Sandbox() as sb:
    with sb.start("py-events", workdir) as s:
        s.spawn("exec httpd -f -p 8080")                          # a server inside the session
        up = s.wait_for_port(8080, timeout=30)                     # also if it listened already
        print(up.command, "listens on", up.port)

        with s.events(kinds=["file"], path_prefix=f"{workdir}/src") as files:  # from now on
            s.exec(["sh", "-c", "echo hi > src/a.txt && mv src/a.txt src/b.txt"])
            moved = files.wait_for(lambda e: e.action == "renamed", timeout=10)
            print("renamed", os.path.relpath(moved.from_, workdir), "to", os.path.relpath(moved.path, workdir))
            resume_at = files.position                             # s.events(from_seq=resume_at) later: nothing lost

        history = s.events(from_seq=1, kinds=["process", "port"])  # the journal from its start
        while (e := history.next(timeout=0.5)) is not None:        # None: nothing more within 0.5 s
            print(e.kind, e.action, e.process or e.port)
        print("cpu used:", s.stats().cpu_usec > 0, "resume at a later seq:", resume_at > moved.seq)
        history.close()

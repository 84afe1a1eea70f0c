"""The README's Python example runs as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "example.py"


def test_readme_example(scope: str, workdir: str) -> None:
    env = dict(os.environ, SANDBOX_SCOPE=scope, SANDBOX_PROVISION="false")
    out = subprocess.run([sys.executable, str(EXAMPLE), workdir], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "exit 0: hello from Linux",
        "8 bytes through stdin",
        "terminal resized: True",
        "task: ['tick', '1', 'tick', '2', 'tick', '3'] exit 0",
        "typed error: SESSION_NOT_FOUND",
    ]


def test_readme_events_example(scope: str, workdir: str) -> None:
    env = dict(os.environ, SANDBOX_SCOPE=scope, SANDBOX_PROVISION="false")
    example = EXAMPLES / "events.py"
    out = subprocess.run([sys.executable, str(example), workdir], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "httpd listens on 8080",
        "renamed src/a.txt to src/b.txt",
        "process started task",
        "port listening 8080",
        "cpu used: True resume at a later seq: True",
    ]

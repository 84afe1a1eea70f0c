"""Benchmark: exec `true` through the C ABI from Python (ctypes), p50 and p99, beside
the Rust API's figures measured in the same run on the same session. The three paths run
in alternating chunks, so a busy machine weighs on all of them alike. A second table
times the newer paths from Python: a streamed `true` (start to exit event), a keystroke
echoed by a terminal, and a background task spawned and waited for.

    python exec_latency.py --rust-bench PATH [--samples N]

PATH is the built `rust_exec_latency` example of sandbox-ffi. Run by scripts/bench-ffi.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import sandbox
from sandbox._lib import lib


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def python_api(s: sandbox.Session, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = s.exec(["true"])
        out.append((time.perf_counter() - t) * 1e6)
        assert r.exit_code == 0
    return out


def raw_ctypes(s: sandbox.Session, n: int) -> list[float]:
    argv = (ctypes.c_char_p * 1)(b"true")
    out = []
    for _ in range(n):
        result = ctypes.c_void_p()
        t = time.perf_counter()
        status = lib.sbx_session_exec(s._ptr, argv, 1, None, ctypes.byref(result), None)
        code = lib.sbx_exec_result_exit_code(result)
        lib.sbx_exec_result_free(result)
        out.append((time.perf_counter() - t) * 1e6)
        assert status == 0 and code == 0
    return out


def streamed(s: sandbox.Session, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with s.exec_stream(["true"]) as st:
            ex = st.wait()
        out.append((time.perf_counter() - t) * 1e6)
        assert ex.success
    return out


def terminal_echo(s: sandbox.Session, n: int) -> list[float]:
    out = []
    with s.open_terminal(["cat"]) as term:
        for _ in range(n):
            t = time.perf_counter()
            term.write(b"x")
            got = b""
            while b"x" not in got:
                got += term.read(timeout=10)
            out.append((time.perf_counter() - t) * 1e6)
    return out


def task_spawn_wait(s: sandbox.Session, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with s.spawn(["true"]) as task:
            info = task.wait(timeout=30)
        out.append((time.perf_counter() - t) * 1e6)
        assert info.exit_code == 0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rust-bench", required=True)
    ap.add_argument("--samples", type=int, default=3000)
    args = ap.parse_args()
    n = args.samples
    scope = f"bench-ffi-{os.getpid()}"
    os.environ["SANDBOX_SCOPE"] = scope
    workdir = tempfile.mkdtemp()
    with sandbox.Sandbox(provision=False) as sb:
        info = sb.info()
        sid = f"bench-{os.getpid()}"
        with sb.start(sid, workdir) as s:
            python_api(s, 200)  # warm-up
            rust_proc = subprocess.Popen([args.rust_bench, sid], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
            try:
                if rust_proc.stdout.readline().strip() != "ready":
                    return 1
                py_all: list[float] = []
                raw: list[float] = []
                rust: list[float] = []
                chunk = 250
                for _ in range(max(1, n // chunk)):
                    py_all += python_api(s, chunk)
                    rust_proc.stdin.write(f"{chunk}\n")
                    rust_proc.stdin.flush()
                    rust += json.loads(rust_proc.stdout.readline())
                    raw += raw_ctypes(s, chunk)
            finally:
                rust_proc.stdin.close()
                rust_proc.wait(timeout=60)
            m = max(50, n // 10)
            newer = [
                ("streamed `true`: exec_stream to exit event", streamed(s, m)),
                ("terminal keystroke echo (write, read back)", terminal_echo(s, m)),
                ("task: spawn `true` and wait for it", task_spawn_wait(s, m)),
            ]
        sb.reap_orphans()
    os.rmdir(workdir)
    rows = [
        ("Python API (Session.exec), ctypes -> C ABI", py_all),
        ("raw ctypes call of sbx_session_exec", raw),
        ("Rust API (sandbox-core), same session", rust),
    ]
    mode = "rootless" if info["rootless"] else "rootful"
    print(f"exec `true` round trip, {mode}, podman {info['version']}, {len(py_all)} samples per row, "
          f"interleaved in chunks of 250, libsandbox {sandbox.library_version()}")
    print(f"{'path':<46} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, v in rows:
        print(f"{name:<46} {pct(v, 50) / 1e3:8.3f} {pct(v, 99) / 1e3:8.3f} {statistics.fmean(v) / 1e3:8.3f}")
    print()
    print(f"newer paths from Python, {len(newer[0][1])} samples each")
    print(f"{'path':<46} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, v in newer:
        print(f"{name:<46} {pct(v, 50) / 1e3:8.3f} {pct(v, 99) / 1e3:8.3f} {statistics.fmean(v) / 1e3:8.3f}")
    p50_py, p50_rust = pct(py_all, 50) / 1e3, pct(rust, 50) / 1e3
    overhead = p50_py - p50_rust
    print(f"Python-over-C p50 {p50_py:.3f} ms (target <= 2 ms: {'met' if p50_py <= 2 else 'NOT met'}); "
          f"overhead over Rust p50 {overhead:.3f} ms (target <= 0.3 ms: {'met' if overhead <= 0.3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

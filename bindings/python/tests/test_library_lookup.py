"""The documented lookup of libsandbox.so: $SANDBOX_LIBRARY, the package directory, the
system loader; and a clear ImportError when none works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sandbox

PACKAGE = Path(sandbox.__file__).resolve().parent
LOADED = sandbox._lib.lib._name


def run(code: str, env: dict[str, str], path: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items()}
    env["PYTHONPATH"] = path
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("SANDBOX_LIBRARY", "LD_LIBRARY_PATH")}


def real_library() -> str:
    path = os.environ.get("SANDBOX_LIBRARY") or LOADED
    assert os.path.exists(path), "the tests run with SANDBOX_LIBRARY set to a built library"
    return path


def test_env_var_wins_and_a_bad_one_is_a_clear_import_error(tmp_path: Path) -> None:
    env = base_env()
    env["SANDBOX_LIBRARY"] = str(tmp_path / "missing.so")
    out = run("import sandbox", env, str(PACKAGE.parent))
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "SANDBOX_LIBRARY" in out.stderr and "missing.so" in out.stderr
    env["SANDBOX_LIBRARY"] = real_library()
    out = run("import sandbox; print(sandbox.abi_version())", env, str(PACKAGE.parent))
    assert out.returncode == 0 and out.stdout.strip() == str(sandbox.ABI_VERSION), out.stderr


def test_library_in_the_package_directory(tmp_path: Path) -> None:
    copy = tmp_path / "sandbox"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(real_library(), copy / "libsandbox.so")
    out = run("import sandbox; print(sandbox._lib.lib._name)", base_env(), str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(copy / "libsandbox.so")


def test_library_from_the_system_loader(tmp_path: Path) -> None:
    env = base_env()
    env["LD_LIBRARY_PATH"] = str(Path(real_library()).parent)
    out = run("import sandbox; print(sandbox.library_version())", env, str(PACKAGE.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sandbox.library_version()

"""Exceptions per status, messages, bad input, the panic boundary, wrong-thread detection,
and the status table kept in step with the library."""

from __future__ import annotations

import ctypes

import pytest

import sandbox
from sandbox import errors
from sandbox._lib import RUNTIME_CALLBACK, lib
from conftest import unique


def test_versions() -> None:
    assert sandbox.abi_version() == sandbox.ABI_VERSION
    assert sandbox.library_version().count(".") == 2


def test_status_table_matches_the_library() -> None:
    for status in sandbox.Status:
        assert lib.sbx_status_name(status.value).decode() == f"SBX_STATUS_{status.name}"
        if status is not sandbox.Status.OK:
            assert status in errors.EXCEPTIONS, f"{status} has no exception class"
    known = {s.value for s in sandbox.Status}
    for n in range(0, 1000):
        if lib.sbx_status_name(n) is not None:
            assert n in known, f"status {n} ({lib.sbx_status_name(n).decode()}) is missing in Python"


def test_bad_input_raises_typed_errors(scope: str, workdir: str) -> None:
    with pytest.raises(sandbox.InvalidArgumentError, match="scope"):
        sandbox.Sandbox(scope="not a scope")
    with pytest.raises(sandbox.InvalidArgumentError, match="host"):
        sandbox.Sandbox(scope=scope, network="host")
    with pytest.raises(sandbox.InvalidArgumentError, match="memory"):
        sandbox.Sandbox(scope=scope, memory_limit=10)
    with pytest.raises(sandbox.InvalidArgumentError, match="absolute"):
        sandbox.Sandbox(scope=scope, runtime_dir="relative/dir")
    with pytest.raises(TypeError):
        sandbox.Sandbox(scope=123)  # type: ignore[arg-type]
    with sandbox.Sandbox(scope=scope, provision=False) as sb:
        with pytest.raises(sandbox.InvalidArgumentError, match="session id"):
            sb.start("../escape", workdir)
        for port in (0, 70000, -1, 2**70):
            with pytest.raises(sandbox.InvalidArgumentError, match="port"):
                sb.start(unique("ports"), workdir, ports=[port])
        with pytest.raises(TypeError):
            sb.start(unique("ports"), workdir, ports=["80"])  # type: ignore[list-item]
        with pytest.raises(sandbox.InvalidArgumentError, match="environment"):
            sb.start(unique("env"), workdir, env={"A=B": "x"})
        with pytest.raises(sandbox.InvalidArgumentError, match="working dir"):
            sb.start(unique("nodir"), "/no/such/dir")
        with pytest.raises(sandbox.ImageUnavailableError, match="no-such-image"):
            sb.start(unique("noimage"), workdir, image="localhost/no-such-image:1", allow_untrusted_image=True)
        with pytest.raises(sandbox.SessionNotFoundError, match="no-such-session"):
            sb.attach("no-such-session")
        with pytest.raises(sandbox.InvalidArgumentError):
            sb.attach("bad id!")
        with sb.start(unique("errors"), workdir) as s:
            with pytest.raises(sandbox.SessionExistsError):
                sb.start(s.id, workdir)
            with pytest.raises(TypeError):
                s.exec("echo hi")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                s.exec(["cat"], stdin="text")  # type: ignore[arg-type]
            with pytest.raises(sandbox.InvalidArgumentError, match="argv"):
                s.exec([])
            with pytest.raises(sandbox.InvalidArgumentError, match="timeout"):
                s.exec(["true"], timeout=0)
            with pytest.raises(sandbox.InvalidArgumentError, match="cwd"):
                s.exec(["true"], cwd="")
            with pytest.raises(sandbox.NotFoundError):
                s.exec(["true"], cwd="/no/such/dir")
            assert s.exec(["/no/such/program"]).exit_code == 127
        sb.reap_orphans()


def test_config_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PIDS", "lots")
    with pytest.raises(sandbox.ConfigError, match="SANDBOX_PIDS") as e:
        sandbox.Sandbox()
    assert e.value.status is sandbox.Status.CONFIG


def test_missing_podman_is_engine_missing(scope: str) -> None:
    with sandbox.Sandbox(scope=scope, podman="/nonexistent/podman") as sb:
        with pytest.raises(sandbox.EngineMissingError, match="/nonexistent/podman"):
            sb.info()


def test_panics_become_panic_errors() -> None:
    err = ctypes.c_void_p()
    assert lib.sbx_test_trigger_panic(ctypes.byref(err)) == sandbox.Status.PANIC
    message = lib.sbx_error_message(err).decode()
    lib.sbx_error_free(err)
    assert "deliberate panic" in message
    with pytest.raises(sandbox.PanicError, match="deliberate panic"):
        sandbox._call(lib.sbx_test_trigger_panic)


def test_blocking_call_on_a_runtime_thread_is_refused(sb: sandbox.Sandbox, workdir: str) -> None:
    seen: list[BaseException] = []
    with sb.start(unique("wrongthread"), workdir) as s:

        def on_runtime_thread(_data: int) -> None:
            try:
                s.exec(["true"])
            except BaseException as e:  # noqa: BLE001 (reported back to the test)
                seen.append(e)

        callback = RUNTIME_CALLBACK(on_runtime_thread)
        sandbox._call(lib.sbx_test_call_on_runtime_thread, sb._ptr, callback, None)
        assert len(seen) == 1 and isinstance(seen[0], sandbox.WrongThreadError), seen
        assert "sbx_session_exec" in str(seen[0])
        assert s.exec(["true"]).success, "the session is fine afterwards"


def test_closed_sandbox_refuses_calls(scope: str) -> None:
    sb = sandbox.Sandbox(scope=scope)
    sb.close()
    sb.close()
    with pytest.raises(sandbox.ClosedError):
        sb.list()

"""Loading libsandbox.so and declaring the C functions used by the binding.

The library is looked up, in order:

1. ``$SANDBOX_LIBRARY``: the path of a libsandbox.so (e.g. ``/opt/sandbox/lib/libsandbox.so``);
2. the package directory: ``libsandbox.so`` next to this file (how a wheel bundles it);
3. the system: ``ctypes.util.find_library("sandbox")`` (ld.so.cache), then
   ``libsandbox.so`` through the dynamic loader's own search (``LD_LIBRARY_PATH``,
   ``/etc/ld.so.conf`` paths).

At import, the loaded library's ``sbx_abi_version()`` must equal :data:`ABI_VERSION`,
the ``SBX_ABI_VERSION`` of the header this binding was written against; a mismatch is an
``ImportError`` rather than a crash later.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

#: The ``SBX_ABI_VERSION`` this binding speaks.
ABI_VERSION = 1

LIBRARY_ENV = "SANDBOX_LIBRARY"


def _candidates() -> list[str]:
    found: list[str] = []
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return [env]  # an explicit choice is never second-guessed
    bundled = Path(__file__).with_name("libsandbox.so")
    if bundled.exists():
        found.append(str(bundled))
    system = ctypes.util.find_library("sandbox")
    if system:
        found.append(system)
    found.append("libsandbox.so")
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError(
        "cannot load libsandbox.so; set SANDBOX_LIBRARY to its path, put it next to the sandbox "
        "package, or install it where the dynamic loader finds it (make -C ffi install). Tried: "
        + "; ".join(errors)
    )


lib = _load()

# Opaque handles are plain pointers on the Python side.
_P = c_void_p
_PP = POINTER(c_void_p)
_ERR = POINTER(c_void_p)

#: The callback type of ``sbx_test_call_on_runtime_thread``.
RUNTIME_CALLBACK = CFUNCTYPE(None, c_void_p)


def _fn(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_status = c_uint32
_fn("sbx_abi_version", c_uint32)
_fn("sbx_version", c_char_p)
_fn("sbx_status_name", c_char_p, c_uint32)
_fn("sbx_error_code", _status, _P)
_fn("sbx_error_message", c_char_p, _P)
_fn("sbx_error_free", None, _P)

_fn("sbx_config_new", _status, _PP, _ERR)
_fn("sbx_config_from_env", _status, _PP, _ERR)
_fn("sbx_config_free", None, _P)
for _name in (
    "scope",
    "image",
    "container_prefix",
    "podman",
    "runtime_dir",
    "cache_dir",
    "snapshot_dir",
    "copy_dir",
    "network",
):
    _fn(f"sbx_config_set_{_name}", _status, _P, c_char_p, _ERR)
_fn("sbx_config_add_trusted_image", _status, _P, c_char_p, _ERR)
for _name in ("provision", "allow_post_create", "allow_untrusted_image", "require_resource_limits"):
    _fn(f"sbx_config_set_{_name}", _status, _P, c_bool, _ERR)
_fn("sbx_config_set_memory_limit", _status, _P, c_uint64, _ERR)
_fn("sbx_config_set_cpu_limit", _status, _P, c_double, _ERR)
_fn("sbx_config_set_pids_limit", _status, _P, c_uint32, _ERR)
for _name in ("ready_timeout_ms", "provision_timeout_ms", "post_create_timeout_ms"):
    _fn(f"sbx_config_set_{_name}", _status, _P, c_uint64, _ERR)

_fn("sbx_context_new", _status, _P, _PP, _ERR)
_fn("sbx_context_close", None, _P)
_fn("sbx_context_free", None, _P)
_fn("sbx_context_info", _status, _P, _PP, _ERR)
_fn("sbx_context_start", _status, _P, _P, _PP, _ERR)
_fn("sbx_context_attach", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_context_list", _status, _P, _PP, _ERR)
_fn("sbx_context_stop", _status, _P, c_char_p, _ERR)
_fn("sbx_context_reap_orphans", _status, _P, POINTER(c_char_p), c_size_t, _PP, _ERR)

_fn("sbx_host_info_json", c_char_p, _P)
_fn("sbx_host_info_free", None, _P)
_fn("sbx_session_list_json", c_char_p, _P)
_fn("sbx_session_list_free", None, _P)
_fn("sbx_string_list_len", c_size_t, _P)
_fn("sbx_string_list_get", c_char_p, _P, c_size_t)
_fn("sbx_string_list_free", None, _P)

_fn("sbx_session_spec_new", _status, c_char_p, c_char_p, _PP, _ERR)
_fn("sbx_session_spec_free", None, _P)
_fn("sbx_session_spec_set_image", _status, _P, c_char_p, _ERR)
_fn("sbx_session_spec_set_network", _status, _P, c_char_p, _ERR)
_fn("sbx_session_spec_set_snapshot", _status, _P, c_char_p, _ERR)
_fn("sbx_session_spec_add_port", _status, _P, c_int64, _ERR)
_fn("sbx_session_spec_add_env", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_session_spec_add_post_create", _status, _P, c_char_p, _ERR)
for _name in ("allow_post_create", "allow_untrusted_image", "require_resource_limits", "provision"):
    _fn(f"sbx_session_spec_set_{_name}", _status, _P, c_bool, _ERR)
_fn("sbx_session_spec_set_memory_limit", _status, _P, c_uint64, _ERR)
_fn("sbx_session_spec_set_cpu_limit", _status, _P, c_double, _ERR)
_fn("sbx_session_spec_set_pids_limit", _status, _P, c_uint32, _ERR)

_fn("sbx_session_id", c_char_p, _P)
_fn("sbx_session_start_report_json", _status, _P, POINTER(c_char_p), _ERR)
_fn("sbx_session_ping", _status, _P, _ERR)
_fn("sbx_session_agent_version", _status, _P, POINTER(c_char_p), _ERR)
_fn("sbx_session_stop", _status, _P, _ERR)
_fn("sbx_session_close", None, _P)
_fn("sbx_session_free", None, _P)
_fn("sbx_session_exec", _status, _P, POINTER(c_char_p), c_size_t, _P, _PP, _ERR)
_fn("sbx_session_exec_stdin", _status, _P, POINTER(c_char_p), c_size_t, c_char_p, c_size_t, _P, _PP, _ERR)

_fn("sbx_exec_options_new", _status, _PP, _ERR)
_fn("sbx_exec_options_free", None, _P)
for _name in ("timeout_ms", "kill_grace_ms", "linger_ms", "output_cap"):
    _fn(f"sbx_exec_options_set_{_name}", _status, _P, c_uint64, _ERR)
_fn("sbx_exec_options_set_cwd", _status, _P, c_char_p, _ERR)
_fn("sbx_exec_options_add_env", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_exec_options_set_cancel_token", _status, _P, _P, _ERR)

_fn("sbx_exec_result_stdout", _status, _P, POINTER(POINTER(c_uint8)), POINTER(c_size_t), _ERR)
_fn("sbx_exec_result_stderr", _status, _P, POINTER(POINTER(c_uint8)), POINTER(c_size_t), _ERR)
_fn("sbx_exec_result_exit_code", c_int32, _P)
_fn("sbx_exec_result_signal", c_int32, _P)
for _name in ("timed_out", "success", "stdout_truncated", "stderr_truncated"):
    _fn(f"sbx_exec_result_{_name}", c_bool, _P)
for _name in ("stdout_total", "stderr_total", "duration_us"):
    _fn(f"sbx_exec_result_{_name}", c_uint64, _P)
_fn("sbx_exec_result_free", None, _P)

_fn("sbx_cancel_token_new", _status, _PP, _ERR)
_fn("sbx_cancel_token_cancel", None, _P)
_fn("sbx_cancel_token_is_cancelled", c_bool, _P)
_fn("sbx_cancel_token_free", None, _P)

_fn("sbx_exec_result_oom_killed", c_bool, _P)

# Spooled output (tasks, terminals).
_BYTES = (POINTER(POINTER(c_uint8)), POINTER(c_size_t))
_fn("sbx_output_chunk_data", _status, _P, *_BYTES, _ERR)
for _name in ("offset", "next_offset", "window_start", "end", "lost"):
    _fn(f"sbx_output_chunk_{_name}", c_uint64, _P)
_fn("sbx_output_chunk_finished", c_bool, _P)
_fn("sbx_output_chunk_text_len", c_size_t, _P)
_fn("sbx_output_chunk_free", None, _P)

# Tasks.
_fn("sbx_task_spec_new", _status, POINTER(c_char_p), c_size_t, _PP, _ERR)
_fn("sbx_task_spec_new_shell", _status, c_char_p, _PP, _ERR)
_fn("sbx_task_spec_add_env", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_task_spec_set_cwd", _status, _P, c_char_p, _ERR)
_fn("sbx_task_spec_set_spool_cap", _status, _P, c_uint64, _ERR)
_fn("sbx_task_spec_free", None, _P)
_fn("sbx_session_spawn_task", _status, _P, _P, _PP, _ERR)
_fn("sbx_session_attach_task", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_session_list_tasks", _status, _P, _PP, _ERR)
_fn("sbx_task_id", c_char_p, _P)
_fn("sbx_task_get_info", _status, _P, _PP, _ERR)
_fn("sbx_task_output", _status, _P, c_uint32, c_uint64, c_size_t, c_uint64, _P, _PP, _ERR)
_fn("sbx_task_tail", _status, _P, c_uint32, c_size_t, _PP, _ERR)
_fn("sbx_task_wait", _status, _P, c_uint64, _P, _PP, _ERR)
_fn("sbx_task_kill", _status, _P, c_int32, _ERR)
_fn("sbx_task_close", None, _P)
_fn("sbx_task_free", None, _P)
_fn("sbx_task_list_len", c_size_t, _P)
_fn("sbx_task_list_get", c_void_p, _P, c_size_t)
_fn("sbx_task_list_free", None, _P)
for _kind in ("task", "terminal"):
    _fn(f"sbx_{_kind}_info_id", c_char_p, _P)
    _fn(f"sbx_{_kind}_info_command", c_char_p, _P)
    _fn(f"sbx_{_kind}_info_state", c_uint32, _P)
    _fn(f"sbx_{_kind}_info_exit_code", c_int32, _P)
    _fn(f"sbx_{_kind}_info_signal", c_int32, _P)
    _fn(f"sbx_{_kind}_info_pid", c_uint32, _P)
    _fn(f"sbx_{_kind}_info_started_unix_ms", c_int64, _P)
    _fn(f"sbx_{_kind}_info_ended_unix_ms", c_int64, _P)
    _fn(f"sbx_{_kind}_info_free", None, _P)
_fn("sbx_task_info_spool_cap", c_uint64, _P)

# Terminals.
_fn("sbx_terminal_spec_new", _status, c_uint16, c_uint16, _PP, _ERR)
_fn("sbx_terminal_spec_set_argv", _status, _P, POINTER(c_char_p), c_size_t, _ERR)
_fn("sbx_terminal_spec_set_shell_command", _status, _P, c_char_p, _ERR)
_fn("sbx_terminal_spec_add_env", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_terminal_spec_set_cwd", _status, _P, c_char_p, _ERR)
_fn("sbx_terminal_spec_set_scrollback", _status, _P, c_uint64, _ERR)
_fn("sbx_terminal_spec_free", None, _P)
_fn("sbx_session_open_terminal", _status, _P, _P, _PP, _ERR)
_fn("sbx_session_attach_terminal", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_session_list_terminals", _status, _P, _PP, _ERR)
_fn("sbx_terminal_id", c_char_p, _P)
_fn("sbx_terminal_get_info", _status, _P, _PP, _ERR)
_fn("sbx_terminal_write", _status, _P, c_char_p, c_size_t, _ERR)
_fn("sbx_terminal_read", _status, _P, c_uint64, c_size_t, c_uint64, _P, _PP, _ERR)
_fn("sbx_terminal_resize", _status, _P, c_uint16, c_uint16, _ERR)
_fn("sbx_terminal_kill", _status, _P, c_int32, _ERR)
_fn("sbx_terminal_wait", _status, _P, c_uint64, _P, _PP, _ERR)
_fn("sbx_terminal_close", None, _P)
_fn("sbx_terminal_free", None, _P)
_fn("sbx_terminal_list_len", c_size_t, _P)
_fn("sbx_terminal_list_get", c_void_p, _P, c_size_t)
_fn("sbx_terminal_list_free", None, _P)
_fn("sbx_terminal_info_rows", c_uint16, _P)
_fn("sbx_terminal_info_cols", c_uint16, _P)
_fn("sbx_terminal_info_scrollback", c_uint64, _P)

# Streaming exec.
_fn("sbx_session_exec_stream", _status, _P, POINTER(c_char_p), c_size_t, _P, _PP, _ERR)
_fn("sbx_exec_stream_next", _status, _P, c_uint64, _PP, _ERR)
_fn("sbx_exec_stream_write_stdin", _status, _P, c_char_p, c_size_t, _ERR)
_fn("sbx_exec_stream_close_stdin", _status, _P, _ERR)
_fn("sbx_exec_stream_signal", _status, _P, c_int32, _ERR)
_fn("sbx_exec_stream_close", None, _P)
_fn("sbx_exec_stream_free", None, _P)
_fn("sbx_exec_event_kind", c_uint32, _P)
_fn("sbx_exec_event_data", _status, _P, *_BYTES, _ERR)
_fn("sbx_exec_event_exit_code", c_int32, _P)
_fn("sbx_exec_event_signal", c_int32, _P)
for _name in ("timed_out", "oom_killed"):
    _fn(f"sbx_exec_event_{_name}", c_bool, _P)
for _name in ("stdout_total", "stderr_total", "duration_us"):
    _fn(f"sbx_exec_event_{_name}", c_uint64, _P)
_fn("sbx_exec_event_free", None, _P)

# Files.
_fn("sbx_session_read_file", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_session_write_file", _status, _P, c_char_p, c_char_p, c_size_t, c_int32, _ERR)
_fn("sbx_session_list_dir", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_session_stat", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_session_remove", _status, _P, c_char_p, c_bool, _ERR)
_fn("sbx_buffer_data", _status, _P, *_BYTES, _ERR)
_fn("sbx_buffer_free", None, _P)
_fn("sbx_file_info_name", c_char_p, _P)
_fn("sbx_file_info_kind", c_uint32, _P)
_fn("sbx_file_info_size", c_uint64, _P)
_fn("sbx_file_info_mode", c_uint32, _P)
_fn("sbx_file_info_modified_unix_ms", c_int64, _P)
_fn("sbx_file_info_target", c_char_p, _P)
_fn("sbx_file_info_free", None, _P)
_fn("sbx_file_list_len", c_size_t, _P)
_fn("sbx_file_list_get", c_void_p, _P, c_size_t)
_fn("sbx_file_list_free", None, _P)

# The egress network.
_fn("sbx_config_set_egress", _status, _P, POINTER(c_char_p), c_size_t, _ERR)
_fn("sbx_config_pin_egress_host", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_session_spec_set_egress", _status, _P, POINTER(c_char_p), c_size_t, _ERR)
_fn("sbx_session_spec_add_egress_rule", _status, _P, c_char_p, _ERR)
_fn("sbx_session_spec_pin_egress_host", _status, _P, c_char_p, c_char_p, _ERR)
_fn("sbx_config_add_egress_credential", _status, _P, c_char_p, c_char_p, c_char_p, c_char_p, _ERR)
_fn("sbx_config_add_egress_upstream_ca", _status, _P, c_char_p, _ERR)
_fn("sbx_session_spec_add_egress_credential", _status, _P, c_char_p, c_char_p, c_char_p, c_char_p, _ERR)
_fn("sbx_session_spec_add_egress_upstream_ca", _status, _P, c_char_p, _ERR)
_fn("sbx_session_set_egress", _status, _P, POINTER(c_char_p), c_size_t, _ERR)
_fn("sbx_session_egress_policy", _status, _P, _PP, _ERR)
_fn("sbx_session_network_log", _status, _P, _PP, _ERR)
_fn("sbx_session_restart_network", _status, _P, POINTER(c_uint32), _ERR)
_fn("sbx_session_egress_enforcer_running", c_bool, _P)
_fn("sbx_egress_policy_json", c_char_p, _P)
_fn("sbx_egress_policy_rule_count", c_size_t, _P)
_fn("sbx_egress_policy_rule", c_char_p, _P, c_size_t)
_fn("sbx_egress_policy_pin_count", c_size_t, _P)
_fn("sbx_egress_policy_pin_name", c_char_p, _P, c_size_t)
_fn("sbx_egress_policy_pin_address", c_char_p, _P, c_size_t)
_fn("sbx_egress_policy_credential_count", c_size_t, _P)
for _name in ("host", "header", "from_env", "from_file"):
    _fn(f"sbx_egress_policy_credential_{_name}", c_char_p, _P, c_size_t)
_fn("sbx_egress_policy_upstream_ca_count", c_size_t, _P)
_fn("sbx_egress_policy_upstream_ca", c_char_p, _P, c_size_t)
_fn("sbx_egress_policy_free", None, _P)
_fn("sbx_egress_log_len", c_size_t, _P)
_fn("sbx_egress_log_get", c_void_p, _P, c_size_t)
_fn("sbx_egress_log_json", c_char_p, _P)
_fn("sbx_egress_log_free", None, _P)
_fn("sbx_egress_decision_time_unix_ms", c_int64, _P)
for _name in ("host", "address", "via", "reason", "injected", "process"):
    _fn(f"sbx_egress_decision_{_name}", c_char_p, _P)
_fn("sbx_egress_decision_port", c_uint16, _P)
_fn("sbx_egress_decision_allowed", c_bool, _P)
for _name in ("bytes_out", "bytes_in"):
    _fn(f"sbx_egress_decision_{_name}", c_uint64, _P)

# The session's event stream.
_fn("sbx_session_events", _status, _P, c_uint64, c_uint32, c_char_p, _PP, _ERR)
_fn("sbx_event_stream_next", _status, _P, c_uint64, _P, _PP, _ERR)
_fn("sbx_event_stream_fd", ctypes.c_int, _P)
_fn("sbx_event_stream_position", c_uint64, _P)
_fn("sbx_event_stream_close", None, _P)
_fn("sbx_event_stream_free", None, _P)
_fn("sbx_event_json", c_char_p, _P)
_fn("sbx_event_free", None, _P)
_fn("sbx_session_watch", _status, _P, c_char_p, _ERR)
_fn("sbx_session_stats", _status, _P, _PP, _ERR)
_fn("sbx_session_wait_for_port", _status, _P, c_uint16, c_uint64, _P, _PP, _ERR)

_fn("sbx_session_pause", _status, _P, _PP, _ERR)
_fn("sbx_session_resume", _status, _P, _PP, _ERR)
_fn("sbx_pause_report_paused", c_bool, _P)
_fn("sbx_pause_report_changed", c_bool, _P)
_fn("sbx_pause_report_method", c_char_p, _P)
_fn("sbx_pause_report_processes", c_uint32, _P)
_fn("sbx_pause_report_took_us", c_uint64, _P)
_fn("sbx_pause_report_free", None, _P)

_fn("sbx_session_snapshot", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_snapshot_report_json", c_char_p, _P)
_fn("sbx_snapshot_report_free", None, _P)
_fn("sbx_context_snapshots", _status, _P, _PP, _ERR)
_fn("sbx_snapshot_list_json", c_char_p, _P)
_fn("sbx_snapshot_list_free", None, _P)
_fn("sbx_context_remove_snapshot", _status, _P, c_char_p, _ERR)
_fn("sbx_context_remove_copy", _status, _P, c_char_p, _ERR)
_fn("sbx_context_reap_snapshots", _status, _P, _PP, _ERR)
_fn("sbx_session_fork", _status, _P, c_uint32, c_char_p, c_char_p, _PP, _ERR)
_fn("sbx_session_fork_with_template", _status, _P, c_uint32, c_char_p, c_char_p, _P, _PP, _ERR)
_fn("sbx_fork_count", c_size_t, _P)
_fn("sbx_fork_child", _status, _P, c_size_t, _PP, _ERR)
_fn("sbx_fork_snapshot_report", c_void_p, _P)
_fn("sbx_fork_free", None, _P)
_fn("sbx_session_diff", _status, _P, c_char_p, _PP, _ERR)
_fn("sbx_diff_len", c_size_t, _P)
_fn("sbx_diff_path", c_char_p, _P, c_size_t)
_fn("sbx_diff_kind", c_char_p, _P, c_size_t)
_fn("sbx_diff_entry", c_char_p, _P, c_size_t)
_fn("sbx_diff_size", c_uint64, _P, c_size_t)
_fn("sbx_diff_free", None, _P)
_fn("sbx_session_merge", _status, _P, c_char_p, c_char_p, _P, c_bool, _PP, _ERR)
_fn("sbx_merge_report_changes", c_size_t, _P)
_fn("sbx_merge_report_applied", c_size_t, _P)
_fn("sbx_merge_report_free", None, _P)

_fn("sbx_test_trigger_panic", _status, _ERR)
_fn("sbx_test_call_on_runtime_thread", _status, _P, RUNTIME_CALLBACK, c_void_p, _ERR)

if lib.sbx_abi_version() != ABI_VERSION:
    raise ImportError(
        f"libsandbox ABI version {lib.sbx_abi_version()} (library {lib.sbx_version().decode()}) does not "
        f"match this binding's {ABI_VERSION}: install matching versions of libsandbox and the Python package"
    )

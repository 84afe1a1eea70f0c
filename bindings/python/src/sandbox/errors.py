"""Status codes of libsandbox and the exception raised for each.

Every failing call raises a subclass of :class:`SandboxError` chosen by the status the C
call returned; ``err.status`` is the :class:`Status` and ``str(err)`` the library's
message (which names the action that failed and keeps podman's own words).
"""

from __future__ import annotations

import enum
from typing import Dict, Type


class Status(enum.IntEnum):
    """``sbx_status`` values. The numbers are stable and never reused."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_ARGUMENT = 2
    PANIC = 3
    CLOSED = 4
    WRONG_THREAD = 5
    CANCELLED = 6
    NOT_AVAILABLE = 7
    UNCLASSIFIED = 99
    ENGINE_MISSING = 100
    ENGINE = 101
    IMAGE_UNAVAILABLE = 102
    LIMITS_UNAVAILABLE = 103
    SESSION_NOT_FOUND = 104
    SESSION_EXISTS = 105
    SESSION_LOST = 106
    TIMEOUT = 107
    AGENT_VERSION_MISMATCH = 108
    PROTOCOL = 109
    NOT_FOUND = 111
    CONFIG = 112
    IO = 113
    NOT_RUNNING = 114
    PERMISSION_DENIED = 115


class SandboxError(Exception):
    """A libsandbox call failed. ``status`` says how; the message says what and why."""

    status: Status = Status.UNCLASSIFIED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            try:
                self.status = Status(status)
            except ValueError:  # a status newer than this binding
                self.status = Status.UNCLASSIFIED
        self.code = int(status) if status is not None else int(self.status)
        self.message = message


class NullArgumentError(SandboxError, ValueError):
    status = Status.NULL_ARGUMENT


class InvalidArgumentError(SandboxError, ValueError):
    status = Status.INVALID_ARGUMENT


class PanicError(SandboxError):
    """A bug inside libsandbox (it was caught at the boundary)."""

    status = Status.PANIC


class ClosedError(SandboxError):
    """The handle was closed, possibly by another thread while the call waited."""

    status = Status.CLOSED


class WrongThreadError(SandboxError):
    """A blocking call was made on one of the library's own runtime threads."""

    status = Status.WRONG_THREAD


class CancelledError(SandboxError):
    """The call was cancelled through its :class:`sandbox.CancelToken`."""

    status = Status.CANCELLED


class NotAvailableError(SandboxError):
    status = Status.NOT_AVAILABLE


class EngineMissingError(SandboxError):
    status = Status.ENGINE_MISSING


class EngineError(SandboxError):
    status = Status.ENGINE


class ImageUnavailableError(SandboxError):
    status = Status.IMAGE_UNAVAILABLE


class LimitsUnavailableError(SandboxError):
    status = Status.LIMITS_UNAVAILABLE


class SessionNotFoundError(SandboxError, LookupError):
    status = Status.SESSION_NOT_FOUND


class SessionExistsError(SandboxError):
    status = Status.SESSION_EXISTS


class SessionLostError(SandboxError):
    status = Status.SESSION_LOST


class SandboxTimeoutError(SandboxError, TimeoutError):
    status = Status.TIMEOUT


class AgentVersionMismatchError(SandboxError):
    status = Status.AGENT_VERSION_MISMATCH


class ProtocolError(SandboxError):
    status = Status.PROTOCOL


class NotFoundError(SandboxError, LookupError):
    status = Status.NOT_FOUND


class ConfigError(SandboxError):
    status = Status.CONFIG


class SandboxIOError(SandboxError, OSError):
    status = Status.IO


class NotRunningError(SandboxError):
    status = Status.NOT_RUNNING


class PermissionDeniedError(SandboxError, PermissionError):
    status = Status.PERMISSION_DENIED


class UnclassifiedError(SandboxError):
    status = Status.UNCLASSIFIED


EXCEPTIONS: Dict[Status, Type[SandboxError]] = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        PanicError,
        ClosedError,
        WrongThreadError,
        CancelledError,
        NotAvailableError,
        EngineMissingError,
        EngineError,
        ImageUnavailableError,
        LimitsUnavailableError,
        SessionNotFoundError,
        SessionExistsError,
        SessionLostError,
        SandboxTimeoutError,
        AgentVersionMismatchError,
        ProtocolError,
        NotFoundError,
        ConfigError,
        SandboxIOError,
        NotRunningError,
        PermissionDeniedError,
        UnclassifiedError,
    )
}


def error_for(status: int, message: str) -> SandboxError:
    """The exception for a status (``UnclassifiedError`` for one this binding does not know)."""
    try:
        cls = EXCEPTIONS[Status(status)]
    except (ValueError, KeyError):
        cls = UnclassifiedError
    return cls(message, status)

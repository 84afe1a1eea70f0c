"""The egress network: :class:`EgressPolicy` and :class:`EgressDecision`, and the calls
behind ``Sandbox(egress=..., egress_hosts=...)``, ``Sandbox.start(egress=...,
egress_hosts=...)`` and :meth:`Session.set_egress`, ``egress_policy``, ``network_log``,
``restart_network`` and ``egress_enforcer_running``.

A session on the ``egress`` network has no interface but loopback; its processes reach
the outside only through the session's proxy (``HTTP_PROXY`` and friends are set to
``http://127.0.0.1:3128``), which lets through what the policy's rules allow. A rule is
``"example.com"``, ``"*.example.com"`` (any name below it), an address or network
(``"10.0.0.5"``, ``"10.0.0.0/8"``, ``"fd00::/8"``), each optionally with a port
(``"example.com:443"``, ``"[fd00::1]:80"``). An empty list of rules allows nothing.

An :class:`EgressCredential` (``Sandbox(egress_credentials=...)``, ``start(...,
egress_credentials=...)``) has the session's enforcer, on the host, add a header to
requests for one host, with the value of a host environment variable or file read when
the session starts: the value never enters the session (HTTPS to that host is
terminated with a CA of the session's own, which the session trusts; answers are
scrubbed of the value). ``egress_upstream_ca`` adds CA files (PEM) the enforcer trusts
for such hosts. Both are fixed at start: :meth:`Session.set_egress` keeps them."""

from __future__ import annotations

from ctypes import c_char_p, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._calls import _borrowed_text, _call, _text, _unix_seconds
from ._lib import lib


@dataclass(frozen=True)
class EgressPolicy:
    """The egress policy of a session: what it may reach, and the names pinned to
    addresses (answered by the session's enforcer instead of the host's resolver)."""

    #: The allow rules as normalized text (``"*.example.com:443"``); empty: nothing.
    allow: List[str] = field(default_factory=list)
    #: Pinned names and their addresses, e.g. ``{"api.test": ["127.0.0.1"]}``.
    hosts: Dict[str, List[str]] = field(default_factory=dict)
    #: Headers the enforcer adds for chosen hosts (where each value is, never the value).
    credentials: List["EgressCredential"] = field(default_factory=list)
    #: Extra CA files (PEM) the enforcer trusts for hosts with a credential.
    upstream_ca: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class EgressCredential:
    """A header the session's enforcer adds to requests for ``host``: ``header`` gets the
    value of the host environment variable ``from_env`` or the contents of the host file
    ``from_file`` (give exactly one; surrounding whitespace trimmed), read when the
    session starts. ``host`` is an exact name an allow rule allows; ``header`` one that
    does not frame or route the request (not ``Host``, ``Content-Length``,
    ``Proxy-*``...); ``from_file`` an absolute path. Anything else raises
    :class:`InvalidArgumentError` ("egress credential")."""

    host: str
    #: The header name, e.g. ``"Authorization"``.
    header: str
    #: The host environment variable holding the value.
    from_env: Optional[str] = None
    #: The host file holding the value.
    from_file: Optional[str] = None


@dataclass(frozen=True)
class EgressDecision:
    """One connection the session's enforcer judged."""

    #: Unix time (seconds) of the decision; for an allowed connection, when it closed.
    time: float
    #: The target as asked for: a name or an address.
    host: str
    port: int
    #: The address connected to, None when it did not get that far.
    address: Optional[str]
    #: "connect" (a CONNECT tunnel, e.g. HTTPS) or "http" (a plain HTTP request).
    via: str
    allowed: bool
    #: Why it was refused (or how an allowed one ended, when not cleanly), else None.
    reason: Optional[str]
    #: Bytes from the session to the target.
    bytes_out: int
    #: Bytes from the target to the session.
    bytes_in: int
    #: The name of the header the enforcer added (an egress credential's; never its
    #: value), else None.
    injected: Optional[str] = None
    #: The process in the session that opened the connection, as the session's agent
    #: saw it: "pid name" (e.g. "42 wget"), or "direct: name" for a process that used
    #: the enforcer's socket itself; None when unknown.
    process: Optional[str] = None


def _rules(rules: Any) -> Any:
    """A C array of the rule strings (kept alive by the caller for the call), and its length."""
    if isinstance(rules, (str, bytes)):
        raise TypeError("egress rules must be a sequence of strings, e.g. ['pypi.org', '*.pythonhosted.org:443']")
    encoded = [_text(r, "egress rule") for r in rules]
    return (c_char_p * max(1, len(encoded)))(*encoded), len(encoded)


def _set_egress(fn: Callable[..., int], handle: c_void_p, rules: Sequence[str]) -> None:
    """Calls ``sbx_*_set_egress`` (spec, config or session) with ``rules``."""
    arr, n = _rules(rules)
    _call(fn, handle, arr, n)


def _pin_hosts(fn: Callable[..., int], handle: c_void_p, hosts: Mapping[str, Union[str, Sequence[str]]]) -> None:
    """Calls ``sbx_*_pin_egress_host`` (spec or config) for every name and address."""
    if not isinstance(hosts, Mapping):
        raise TypeError(f"egress_hosts must map names to addresses, not {type(hosts).__name__}")
    for name, addrs in hosts.items():
        for addr in [addrs] if isinstance(addrs, str) else addrs:
            _call(fn, handle, _text(name, "egress host name"), _text(addr, "egress host address"))


def _add_credentials(fn: Callable[..., int], handle: c_void_p, credentials: Sequence[Any]) -> None:
    """Calls ``sbx_*_add_egress_credential`` (spec or config) for every credential: an
    :class:`EgressCredential` or a dict with its fields."""
    if isinstance(credentials, (str, bytes, Mapping, EgressCredential)):
        raise TypeError("egress_credentials must be a list of EgressCredential (or dicts)")
    for c in credentials:
        if isinstance(c, Mapping):
            c = EgressCredential(**c)
        if not isinstance(c, EgressCredential):
            raise TypeError(f"an egress credential is an EgressCredential or a dict, not {type(c).__name__}")
        env = None if c.from_env is None else _text(c.from_env, "egress credential from_env")
        file = None if c.from_file is None else _text(c.from_file, "egress credential from_file")
        host, header = _text(c.host, "egress credential host"), _text(c.header, "egress credential header")
        _call(fn, handle, host, header, env, file)


def _add_upstream_cas(fn: Callable[..., int], handle: c_void_p, paths: Sequence[Any]) -> None:
    """Calls ``sbx_*_add_egress_upstream_ca`` (spec or config) for every path."""
    if isinstance(paths, (str, bytes)):
        raise TypeError("egress_upstream_ca must be a list of paths")
    for path in paths:
        _call(fn, handle, _text(path, "egress upstream CA"))


def _take_egress_policy(p: c_void_p) -> EgressPolicy:
    try:
        allow = [_borrowed_text(lib.sbx_egress_policy_rule(p, i)) for i in range(lib.sbx_egress_policy_rule_count(p))]
        hosts: Dict[str, List[str]] = {}
        for i in range(lib.sbx_egress_policy_pin_count(p)):
            name = _borrowed_text(lib.sbx_egress_policy_pin_name(p, i))
            hosts.setdefault(name, []).append(_borrowed_text(lib.sbx_egress_policy_pin_address(p, i)))
        credentials = [
            EgressCredential(
                host=_borrowed_text(lib.sbx_egress_policy_credential_host(p, i)),
                header=_borrowed_text(lib.sbx_egress_policy_credential_header(p, i)),
                from_env=_optional_text(lib.sbx_egress_policy_credential_from_env(p, i)),
                from_file=_optional_text(lib.sbx_egress_policy_credential_from_file(p, i)),
            )
            for i in range(lib.sbx_egress_policy_credential_count(p))
        ]
        n_cas = lib.sbx_egress_policy_upstream_ca_count(p)
        cas = [_borrowed_text(lib.sbx_egress_policy_upstream_ca(p, i)) for i in range(n_cas)]
        return EgressPolicy(allow=allow, hosts=hosts, credentials=credentials, upstream_ca=cas)
    finally:
        lib.sbx_egress_policy_free(p)


def _optional_text(p: Optional[bytes]) -> Optional[str]:
    return None if p is None else p.decode("utf-8", "replace")


def _decision(d: c_void_p) -> EgressDecision:
    """Reads an ``sbx_egress_decision`` borrowed from its log."""
    return EgressDecision(
        time=_unix_seconds(lib.sbx_egress_decision_time_unix_ms(d)),
        host=_borrowed_text(lib.sbx_egress_decision_host(d)),
        port=int(lib.sbx_egress_decision_port(d)),
        address=_optional_text(lib.sbx_egress_decision_address(d)),
        via=_borrowed_text(lib.sbx_egress_decision_via(d)),
        allowed=bool(lib.sbx_egress_decision_allowed(d)),
        reason=_optional_text(lib.sbx_egress_decision_reason(d)),
        bytes_out=int(lib.sbx_egress_decision_bytes_out(d)),
        bytes_in=int(lib.sbx_egress_decision_bytes_in(d)),
        injected=_optional_text(lib.sbx_egress_decision_injected(d)),
        process=_optional_text(lib.sbx_egress_decision_process(d)),
    )


def _take_egress_log(p: c_void_p) -> List[EgressDecision]:
    try:
        return [_decision(lib.sbx_egress_log_get(p, i)) for i in range(lib.sbx_egress_log_len(p))]
    finally:
        lib.sbx_egress_log_free(p)

"""The egress network: a session whose policy lets a pinned ``.test`` name through to an
HTTP server of this test on the host's loopback (an address rule for its port) and
refuses another with 403; the decision log as dataclasses; the policy changed live; the
enforcer restarted; typed errors for bad rules, addresses and sessions off the egress
network; one meaning of an empty list (nothing reachable) for start, config and live."""

from __future__ import annotations

import http.server
import re
import threading
import time
from typing import Iterator, Tuple

import pytest

import sandbox
from conftest import unique


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[Tuple[int, int]]:
    """Two HTTP servers on the host's loopback: (web, secret) ports."""
    made = []
    for body in (b"hello from the host", b"secret"):
        handler = type("Handler", (_Handler,), {"body": body})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        made.append(srv)
    yield made[0].server_address[1], made[1].server_address[1]
    for srv in made:
        srv.shutdown()
        srv.server_close()


def _get(s: sandbox.Session, name: str, port: int) -> str:
    # (busybox wget crashes on a refused proxied request when given -T.)
    r = s.exec(["sh", "-c", f"wget -q -O- http://{name}:{port}/ 2>&1; echo; echo rc=$?"], timeout=60)
    return r.stdout.decode()


def test_a_policy_lets_through_what_it_allows_and_logs_it(sb: sandbox.Sandbox, workdir: str, servers) -> None:
    web, secret = servers
    rule = f"127.0.0.1:{web}"
    pins = {"allowed.test": ["127.0.0.1"], "denied.test": ["127.0.0.1"]}
    with sb.start(unique("egress"), workdir, egress=["allowed.test", rule],
                  egress_hosts={"allowed.test": "127.0.0.1", "denied.test": ["127.0.0.1"]}) as s:
        report = s.start_report["egress"]
        assert s.start_report["network"] == "egress"
        assert (report["rules"], report["pinned"]) == (["allowed.test", rule], ["allowed.test", "denied.test"])
        assert report["proxy"] == "http://127.0.0.1:3128"
        assert s.egress_enforcer_running()
        assert s.egress_policy() == sandbox.EgressPolicy(allow=["allowed.test", rule], hosts=pins)

        assert _get(s, "allowed.test", web).startswith("hello from the host\n"), "through the proxy variables"
        refused = _get(s, "denied.test", secret)
        assert "403" in refused and "secret" not in refused, refused

        # An allowed connection is logged when it closes, a moment after the answer.
        deadline = time.monotonic() + 20
        log = s.network_log()
        while not {"allowed.test", "denied.test"} <= {d.host for d in log} and time.monotonic() < deadline:
            time.sleep(0.05)
            log = s.network_log()
        allowed = next(d for d in log if d.host == "allowed.test")
        assert isinstance(allowed, sandbox.EgressDecision)
        assert (allowed.allowed, allowed.via, allowed.port, allowed.address) == (True, "http", web, "127.0.0.1")
        assert allowed.bytes_in > 20 and allowed.bytes_out > 20 and allowed.reason is None
        assert abs(allowed.time - time.time()) < 300
        # The process that opened it, as the session's agent saw it: "pid wget".
        assert re.fullmatch(r"\d+ .*wget", allowed.process or "") and allowed.process.endswith(" wget"), allowed
        denied = next(d for d in log if d.host == "denied.test")
        assert (denied.allowed, denied.port) == (False, secret)
        assert "not in the allow list" in (denied.reason or ""), denied

        # Live: rules replaced, pins kept; the next connection is judged by them.
        s.set_egress([rule])
        assert "403" in _get(s, "allowed.test", web)
        assert s.egress_policy() == sandbox.EgressPolicy(allow=[rule], hosts=pins)
        with pytest.raises(sandbox.InvalidArgumentError, match=r"\*\*\.x"):
            s.set_egress(["allowed.test", "**.x"])
        assert s.egress_policy().allow == [rule], "a bad rule changes nothing"
        with pytest.raises(TypeError):
            s.set_egress("allowed.test")  # type: ignore[arg-type]
        s.set_egress([])
        assert s.egress_policy() == sandbox.EgressPolicy(allow=[], hosts=pins), "empty: nothing, still egress"
        s.set_egress(["ALLOWED.test", rule])
        assert s.egress_policy().allow == ["allowed.test", rule], "normalized"
        assert _get(s, "allowed.test", web).startswith("hello from the host\n")

        # restart_network keeps a running enforcer.
        assert s.restart_network() == report["enforcer_pid"]
        assert s.egress_enforcer_running()


def test_bad_egress_input_and_sessions_off_the_egress_network(sb: sandbox.Sandbox, workdir: str) -> None:
    for bad in ["*", "**.x.test", "", "a.test:0", "10.0.0.1:70000", "bücher.test", "10.0.0.0/33"]:
        with pytest.raises(sandbox.InvalidArgumentError, match="egress rule"):
            sb.start(unique("bad"), workdir, egress=["pypi.org", bad])
    with pytest.raises(sandbox.InvalidArgumentError, match="not an IP address"):
        sb.start(unique("bad"), workdir, egress_hosts={"a.test": "localhost"})
    with pytest.raises(sandbox.InvalidArgumentError, match="egress hosts entry"):
        sb.start(unique("bad"), workdir, egress_hosts={"Upper.test": "127.0.0.1"})
    with pytest.raises(sandbox.InvalidArgumentError, match="egress"):
        sb.start(unique("bad"), workdir, egress=["pypi.org"], network="bridge")
    with pytest.raises(TypeError):
        sb.start(unique("bad"), workdir, egress="pypi.org")  # type: ignore[arg-type]
    with pytest.raises(sandbox.InvalidArgumentError, match="egress rule"):
        sandbox.Sandbox(from_env=False, egress=["*"])
    assert sb.list() == [], "nothing started"

    with sb.start(unique("none"), workdir, network="none") as s:
        assert s.egress_policy() is None
        assert s.network_log() == []
        assert not s.egress_enforcer_running()
        with pytest.raises(sandbox.InvalidArgumentError, match="not on the egress network"):
            s.set_egress([])
        with pytest.raises(sandbox.InvalidArgumentError, match="egress"):
            s.restart_network()


def test_an_empty_policy_reaches_nothing(scope: str, workdir: str, servers) -> None:
    web, _ = servers
    # From the configuration: egress=[] is the egress network with nothing allowed.
    with sandbox.Sandbox(scope=scope, provision=False, egress=[], egress_hosts={"web.test": "127.0.0.1"}) as sb:
        with sb.start(unique("empty"), workdir) as s:
            assert s.start_report["network"] == "egress"
            assert s.egress_policy() == sandbox.EgressPolicy(allow=[], hosts={"web.test": ["127.0.0.1"]})
            assert "403" in _get(s, "web.test", web)
            # The spec's policy replaces the configuration's.
            with sb.start(unique("spec"), workdir, egress=["web.test", f"127.0.0.1:{web}"],
                          egress_hosts={"web.test": "127.0.0.1"}) as t:
                assert _get(t, "web.test", web).startswith("hello from the host\n")
        # network= wins over the configuration's egress policy.
        with sandbox.Sandbox(scope=scope, provision=False, egress=["pypi.org"], network="none") as other:
            with other.start(unique("none"), workdir) as s:
                assert s.start_report["network"] == "none" and s.egress_policy() is None


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers with the request headers it got (so a header added on the way comes back)."""

    seen: list = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.seen.append(str(self.headers))
        body = b"you sent:\n" + str(self.headers).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_egress_credentials_are_added_outside_the_session(sb: sandbox.Sandbox, workdir: str, tmp_path) -> None:
    handler = type("Echo", (_Echo,), {"seen": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    key = f"k3y-{unique('key')}"
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    rules = ["api.test", f"127.0.0.1:{port}"]
    cred = sandbox.EgressCredential("api.test", "X-Api-Key", from_file=str(key_file))
    try:
        # Typed errors before anything starts.
        for bad, says in [
            ({"host": "other.test", "header": "X-Api-Key", "from_env": "T"}, "not allowed"),
            ({"host": "api.test", "header": "Host", "from_env": "T"}, "frames or routes"),
            ({"host": "api.test", "header": "X-Api-Key"}, "exactly one"),
            ({"host": "api.test", "header": "X-Api-Key", "from_file": "rel/key"}, "absolute"),
        ]:
            with pytest.raises(sandbox.InvalidArgumentError, match=says):
                sb.start(unique("egress-cred"), workdir, egress=rules, egress_credentials=[bad])
        with pytest.raises(sandbox.InvalidArgumentError, match="egress upstream CA"):
            sb.start(unique("egress-cred"), workdir, egress=rules, egress_upstream_ca=["ca.pem"])
        with pytest.raises(TypeError):
            sb.start(unique("egress-cred"), workdir, egress=rules, egress_credentials=cred)  # type: ignore[arg-type]
        with pytest.raises(sandbox.InvalidArgumentError, match="egress credential"):
            bad_header = {"host": "a.test", "header": "bad header", "from_env": "T"}
            sandbox.Sandbox(egress=["a.test"], egress_credentials=[bad_header])

        with sb.start(unique("egress-cred"), workdir, egress=rules, egress_hosts={"api.test": "127.0.0.1"},
                      egress_credentials=[cred]) as s:
            out = s.exec(["sh", "-c", f"wget -q -O- http://api.test:{port}/echo 2>&1"], timeout=60).stdout.decode()
            assert any(f"X-Api-Key: {key}" in h for h in handler.seen), handler.seen
            assert "you sent:" in out and key not in out and "X-Api-Key: *" in out, out

            deadline = time.monotonic() + 20
            log = s.network_log()
            while not any(d.host == "api.test" for d in log) and time.monotonic() < deadline:
                time.sleep(0.05)
                log = s.network_log()
            d = next(d for d in log if d.host == "api.test")
            assert d.allowed and d.injected == "X-Api-Key", d

            policy = s.egress_policy()
            assert policy is not None and policy.credentials == [cred] and policy.upstream_ca == []
            # Live rule changes keep the credential; dropping its host is refused.
            s.set_egress(rules + ["other.test"])
            assert s.egress_policy().credentials == [cred]
            with pytest.raises(sandbox.InvalidArgumentError, match="credential"):
                s.set_egress([f"127.0.0.1:{port}"])
            s.stop()
    finally:
        srv.shutdown()
        srv.server_close()

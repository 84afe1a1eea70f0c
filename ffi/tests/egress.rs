//! The egress network through the C ABI: spec and config setters with typed errors,
//! and against real podman a session whose policy lets one pinned `.test` name through
//! to a server of this test on the host's loopback (an address rule for its port) and
//! refuses another, the decision log, live policy changes, the policy in force, a killed
//! enforcer restarted, and a session not on the egress network; egress credentials (a
//! header added outside the session to plain HTTP for a pinned name, scrubbed from the
//! answer, named in the log and the policy) and their typed errors.

mod support;

use std::ffi::{CStr, CString, c_char};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::ptr::{null, null_mut};
use std::sync::{Arc, Mutex};

use sandbox::*;
use support::{Failure, Scope, check, sentinel, sh, text, wait_until};

fn fails_with(r: Result<(), Failure>, status: sbx_status, needle: &str) {
    let f = r.expect_err("the call must fail");
    assert_eq!(f.status, status, "{f:?}");
    assert!(f.message.contains(needle), "message {:?} should mention {needle:?}", f.message);
}

/// A C array of strings, alive while the returned owners are.
fn c_strings(items: &[&str]) -> (Vec<CString>, Vec<*const c_char>) {
    let owned: Vec<CString> = items.iter().map(|s| CString::new(*s).unwrap()).collect();
    let ptrs = owned.iter().map(|c| c.as_ptr()).collect();
    (owned, ptrs)
}

/// An HTTP server on the host's loopback answering each request with `answer(request)`
/// as the body; every request is kept in what it returns.
fn server(answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (keep, answer) = (seen.clone(), Arc::new(answer));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (keep, answer) = (keep.clone(), answer.clone());
            std::thread::spawn(move || {
                s.set_read_timeout(Some(std::time::Duration::from_millis(1500))).ok();
                let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                keep.lock().unwrap().extend_from_slice(&got);
                let body = answer(&got);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = s.write_all(&[head.as_bytes(), &body].concat());
            });
        }
    });
    (port, seen)
}

/// An HTTP server on the host's loopback answering every request with `body`.
fn http_server(body: &'static str) -> u16 {
    server(move |_| body.as_bytes().to_vec()).0
}

/// An HTTP server that answers with the request it got (so a header added on the way
/// comes back), keeping every request.
fn echo_server() -> (u16, Arc<Mutex<Vec<u8>>>) {
    server(|req| [b"you sent:\n".as_slice(), req].concat())
}

fn set_egress(s: *const sbx_session, rules: &[&str]) -> Result<(), Failure> {
    let (_owned, ptrs) = c_strings(rules);
    // SAFETY: live session; `ptrs` holds `len` live strings for the call.
    check(|e| unsafe { sbx_session_set_egress(s, ptrs.as_ptr(), ptrs.len(), e) })
}

/// A policy's rules and its pins (name, address).
type Policy = (Vec<String>, Vec<(String, String)>);

/// The rules and pins of the policy in force.
fn policy(s: *const sbx_session) -> Result<Policy, Failure> {
    let mut p = null_mut();
    // SAFETY: live session; the policy is read, then freed once.
    unsafe {
        check(|e| sbx_session_egress_policy(s, &mut p, e))?;
        let rules = (0..sbx_egress_policy_rule_count(p)).map(|i| text(sbx_egress_policy_rule(p, i))).collect();
        let n = sbx_egress_policy_pin_count(p);
        let pins = (0..n).map(|i| (text(sbx_egress_policy_pin_name(p, i)), text(sbx_egress_policy_pin_address(p, i))));
        let pins = pins.collect();
        assert!(sbx_egress_policy_rule(p, 999).is_null() && sbx_egress_policy_pin_name(p, n).is_null());
        let json: serde_json::Value = serde_json::from_str(&text(sbx_egress_policy_json(p))).unwrap();
        assert!(json["allow"].is_array() && json["hosts"].is_object(), "{json}");
        sbx_egress_policy_free(p);
        Ok((rules, pins))
    }
}

/// One decision as read through the accessors.
#[derive(Debug)]
struct Decision {
    host: String,
    port: u16,
    address: Option<String>,
    via: String,
    allowed: bool,
    reason: Option<String>,
    process: Option<String>,
    injected: Option<String>,
    bytes_in: u64,
}

fn network_log(s: *const sbx_session) -> Vec<Decision> {
    let mut log = null_mut();
    // SAFETY: live session; the log is read, then freed once; decisions are borrowed.
    unsafe {
        check(|e| sbx_session_network_log(s, &mut log, e)).unwrap();
        let opt = |p: *const c_char| (!p.is_null()).then(|| text(p));
        let out: Vec<Decision> = (0..sbx_egress_log_len(log))
            .map(|i| {
                let d = sbx_egress_log_get(log, i);
                assert!(sbx_egress_decision_time_unix_ms(d) > 1_600_000_000_000);
                Decision {
                    host: text(sbx_egress_decision_host(d)),
                    port: sbx_egress_decision_port(d),
                    address: opt(sbx_egress_decision_address(d)),
                    via: text(sbx_egress_decision_via(d)),
                    allowed: sbx_egress_decision_allowed(d),
                    reason: opt(sbx_egress_decision_reason(d)),
                    process: opt(sbx_egress_decision_process(d)),
                    injected: opt(sbx_egress_decision_injected(d)),
                    bytes_in: sbx_egress_decision_bytes_in(d),
                }
            })
            .collect();
        assert!(sbx_egress_log_get(log, out.len()).is_null());
        let json: serde_json::Value = serde_json::from_str(&text(sbx_egress_log_json(log))).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(out.len()), "{json}");
        sbx_egress_log_free(log);
        out
    }
}

#[test]
fn egress_setters_check_their_input() {
    let sc = Scope::new("egress-input");
    let (_, spec) = sc.spec("input");
    let mut cfg = null_mut();
    // SAFETY: live handles and static strings; each handle freed once.
    unsafe {
        for bad in ["*", "**.x.test", "", "a.test:0", "10.0.0.1:70000", "bücher.test", "10.0.0.0/33"] {
            let c = CString::new(bad).unwrap();
            let r = check(|e| sbx_session_spec_add_egress_rule(spec, c.as_ptr(), e));
            fails_with(r, sbx_status::InvalidArgument, "invalid egress rule");
            let (_o, ptrs) = c_strings(&["ok.test", bad]);
            let r = check(|e| sbx_session_spec_set_egress(spec, ptrs.as_ptr(), 2, e));
            fails_with(r, sbx_status::InvalidArgument, "invalid egress rule");
        }
        let r = check(|e| sbx_session_spec_pin_egress_host(spec, c"a.test".as_ptr(), c"not-an-ip".as_ptr(), e));
        fails_with(r, sbx_status::InvalidArgument, "not an IP address");
        let r = check(|e| sbx_session_spec_pin_egress_host(spec, c"Upper.test".as_ptr(), c"127.0.0.1".as_ptr(), e));
        fails_with(r, sbx_status::InvalidArgument, "egress hosts entry");
        let r = check(|e| sbx_session_spec_pin_egress_host(spec, null(), c"127.0.0.1".as_ptr(), e));
        fails_with(r, sbx_status::NullArgument, "name");
        let r = check(|e| sbx_session_spec_set_egress(spec, null(), 1, e));
        fails_with(r, sbx_status::NullArgument, "rules");
        let r = check(|e| sbx_session_spec_set_egress(null_mut(), null(), 0, e));
        fails_with(r, sbx_status::NullArgument, "spec");
        check(|e| sbx_session_spec_set_egress(spec, null(), 0, e)).expect("no rules: nothing reachable");
        check(|e| sbx_session_spec_add_egress_rule(spec, c"*.example.com:443".as_ptr(), e)).unwrap();
        check(|e| sbx_session_spec_pin_egress_host(spec, c"a.test".as_ptr(), c"fd00::1".as_ptr(), e)).unwrap();
        check(|e| sbx_session_spec_set_network(spec, c"egress".as_ptr(), e)).unwrap();
        let r = check(|e| sbx_session_spec_set_network(spec, c"proxy".as_ptr(), e));
        fails_with(r, sbx_status::InvalidArgument, "egress");
        sbx_session_spec_free(spec);

        check(|e| sbx_config_new(&mut cfg, e)).unwrap();
        let (_o, ptrs) = c_strings(&["pypi.org", "*"]);
        let r = check(|e| sbx_config_set_egress(cfg, ptrs.as_ptr(), 2, e));
        fails_with(r, sbx_status::InvalidArgument, "\"*\"");
        check(|e| sbx_config_set_egress(cfg, ptrs.as_ptr(), 1, e)).unwrap();
        let r = check(|e| sbx_config_pin_egress_host(cfg, c"a.test".as_ptr(), c"".as_ptr(), e));
        fails_with(r, sbx_status::InvalidArgument, "egress host address");
        check(|e| sbx_config_pin_egress_host(cfg, c"a.test".as_ptr(), c"127.0.0.1".as_ptr(), e)).unwrap();
        check(|e| sbx_config_set_network(cfg, c"egress".as_ptr(), e)).unwrap();
        sbx_config_free(cfg);

        // Getters of NULL handles are neutral; frees of NULL are no-ops.
        assert!(sbx_egress_policy_json(null()).is_null() && sbx_egress_policy_rule(null(), 0).is_null());
        assert_eq!((sbx_egress_policy_rule_count(null()), sbx_egress_policy_pin_count(null())), (0, 0));
        assert!(sbx_egress_policy_pin_name(null(), 0).is_null() && sbx_egress_policy_pin_address(null(), 0).is_null());
        assert_eq!(sbx_egress_log_len(null()), 0);
        assert!(sbx_egress_log_get(null(), 0).is_null() && sbx_egress_log_json(null()).is_null());
        assert!(sbx_egress_decision_host(null()).is_null() && sbx_egress_decision_via(null()).is_null());
        assert!(sbx_egress_decision_address(null()).is_null() && sbx_egress_decision_reason(null()).is_null());
        assert!(sbx_egress_decision_injected(null()).is_null() && sbx_egress_decision_process(null()).is_null());
        assert_eq!((sbx_egress_policy_credential_count(null()), sbx_egress_policy_upstream_ca_count(null())), (0, 0));
        assert!(sbx_egress_policy_credential_host(null(), 0).is_null());
        assert!(sbx_egress_policy_credential_from_env(null(), 0).is_null());
        assert!(sbx_egress_policy_upstream_ca(null(), 0).is_null());
        assert!(!sbx_egress_decision_allowed(null()) && sbx_egress_decision_port(null()) == 0);
        assert_eq!(sbx_egress_decision_time_unix_ms(null()), 0);
        assert_eq!((sbx_egress_decision_bytes_in(null()), sbx_egress_decision_bytes_out(null())), (0, 0));
        assert!(!sbx_session_egress_enforcer_running(null()));
        sbx_egress_policy_free(null_mut());
        sbx_egress_log_free(null_mut());

        // Session calls on NULL fail typed, leaving out-params alone.
        let (mut p, mut log, mut pid): (*mut sbx_egress_policy, *mut sbx_egress_log, u32) = (sentinel(), sentinel(), 7);
        fails_with(check(|e| sbx_session_set_egress(null(), null(), 0, e)), sbx_status::NullArgument, "session");
        fails_with(check(|e| sbx_session_egress_policy(null(), &mut p, e)), sbx_status::NullArgument, "session");
        fails_with(check(|e| sbx_session_network_log(null(), &mut log, e)), sbx_status::NullArgument, "session");
        fails_with(check(|e| sbx_session_restart_network(null(), &mut pid, e)), sbx_status::NullArgument, "session");
        assert_eq!((p, log, pid), (sentinel(), sentinel(), 7));
    }
}

#[test]
fn a_policy_lets_through_what_it_allows_logs_it_and_changes_live() {
    let sc = Scope::new("egress");
    let web = http_server("hello through the proxy");
    let secret = http_server("secret");
    let (id, spec) = sc.spec("egress");
    let web_rule = format!("127.0.0.1:{web}");
    let (_o, rules) = c_strings(&["allowed.test", &web_rule]);
    let mut s = null_mut();
    // SAFETY: live handles; every handle freed once.
    unsafe {
        check(|e| sbx_session_spec_set_egress(spec, rules.as_ptr(), rules.len(), e)).unwrap();
        for name in [c"allowed.test", c"denied.test"] {
            check(|e| sbx_session_spec_pin_egress_host(spec, name.as_ptr(), c"127.0.0.1".as_ptr(), e)).unwrap();
        }
        check(|e| sbx_context_start(sc.ctx, spec, &mut s, e)).expect("start");
        sbx_session_spec_free(spec);

        let mut json: *const c_char = null();
        check(|e| sbx_session_start_report_json(s, &mut json, e)).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text(json)).unwrap();
        assert_eq!(report["network"], "egress", "{report}");
        assert_eq!(report["egress"]["proxy"], "http://127.0.0.1:3128", "{report}");
        assert_eq!(report["egress"]["rules"], serde_json::json!(["allowed.test", web_rule]), "{report}");
        assert_eq!(report["egress"]["pinned"], serde_json::json!(["allowed.test", "denied.test"]));
        assert!(sbx_session_egress_enforcer_running(s));

        let get = |name: &str, port: u16| sh(s, &format!("wget -q -O- http://{name}:{port}/ 2>&1; echo; echo rc=$?"));
        assert!(get("allowed.test", web).starts_with("hello through the proxy"), "through the proxy variables");
        let refused = get("denied.test", secret);
        assert!(refused.contains("403") && !refused.contains("secret"), "{refused}");

        // The allowed connection is logged once it closed.
        let mut log = Vec::new();
        wait_until("both decisions are logged", || {
            log = network_log(s);
            log.iter().any(|d| d.host == "allowed.test") && log.iter().any(|d| d.host == "denied.test")
        });
        let allowed = log.iter().find(|d| d.host == "allowed.test").unwrap();
        assert!(allowed.allowed && allowed.via == "http" && allowed.port == web, "{allowed:?}");
        assert_eq!(allowed.address.as_deref(), Some("127.0.0.1"));
        assert!(allowed.bytes_in > 20, "{allowed:?}");
        // The process that opened it, as the session's agent saw it: "pid wget".
        let process = allowed.process.as_deref().unwrap_or_default();
        assert!(process.ends_with(" wget") && process.starts_with(|c: char| c.is_ascii_digit()), "{allowed:?}");
        let denied = log.iter().find(|d| d.host == "denied.test").unwrap();
        assert!(!denied.allowed && denied.port == secret, "{denied:?}");
        assert!(denied.reason.as_deref().unwrap_or_default().contains("not in the allow list"), "{denied:?}");

        // The same decisions as network events of the session's stream.
        let mut stream: *mut sbx_event_stream = null_mut();
        check(|e| sbx_session_events(s, 1, SBX_EVENT_KIND_NETWORK, null(), &mut stream, e)).unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let mut ev: *mut sbx_event = null_mut();
            check(|e| sbx_event_stream_next(stream, 30_000, null(), &mut ev, e)).unwrap();
            assert!(!ev.is_null(), "a network event within 30 s (got {seen:?})");
            let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
            let has_bytes = sbx_event_bytes(ev, &mut bytes_in, &mut bytes_out);
            seen.push((
                text(sbx_event_kind(ev)),
                text(sbx_event_action(ev)),
                text(sbx_event_host(ev)),
                sbx_event_port(ev),
                has_bytes.then_some((bytes_in, bytes_out)),
            ));
            sbx_event_free(ev);
        }
        sbx_event_stream_free(stream);
        seen.sort();
        let want_allowed = ("network".to_string(), "allowed".to_string(), "allowed.test".to_string(), i32::from(web));
        let got_allowed = seen.iter().find(|e| e.1 == "allowed").expect("allowed");
        assert_eq!((got_allowed.0.clone(), got_allowed.1.clone(), got_allowed.2.clone(), got_allowed.3), want_allowed);
        let (bytes_in, bytes_out) = got_allowed.4.expect("an allowed connection's bytes");
        assert!(bytes_in == allowed.bytes_in && bytes_out > 20, "the logged byte counts: {got_allowed:?}");
        let got_refused = seen.iter().find(|e| e.1 == "refused").expect("refused");
        assert_eq!((got_refused.2.as_str(), got_refused.3, got_refused.4), ("denied.test", i32::from(secret), None));

        // The policy in force, changed live: rules replaced, pins kept.
        let pins =
            vec![("allowed.test".to_string(), "127.0.0.1".to_string()), ("denied.test".into(), "127.0.0.1".into())];
        assert_eq!(policy(s).unwrap(), (vec!["allowed.test".to_string(), web_rule.clone()], pins.clone()));
        set_egress(s, &[&web_rule]).unwrap();
        assert!(get("allowed.test", web).contains("403"), "refused from the next connection on");
        assert_eq!(policy(s).unwrap(), (vec![web_rule.clone()], pins.clone()));
        fails_with(set_egress(s, &["allowed.test", "**.x"]), sbx_status::InvalidArgument, "\"**.x\"");
        assert_eq!(policy(s).unwrap().0, vec![web_rule.clone()], "a bad rule changes nothing");
        set_egress(s, &[]).unwrap();
        assert_eq!(policy(s).unwrap(), (vec![], pins.clone()), "empty: nothing reachable, still egress");
        set_egress(s, &["ALLOWED.test", &web_rule]).unwrap();
        assert_eq!(policy(s).unwrap().0, vec!["allowed.test".to_string(), web_rule.clone()], "normalized");
        assert!(get("allowed.test", web).starts_with("hello through the proxy"), "allowed again");

        // A killed enforcer fails closed until restart_network.
        let mut pid = 0u32;
        check(|e| sbx_session_restart_network(s, &mut pid, e)).unwrap();
        assert_eq!(report["egress"]["enforcer_pid"], pid, "the running one is kept");
        assert!(std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
        wait_until("the enforcer is gone", || !sbx_session_egress_enforcer_running(s));
        assert!(get("allowed.test", web).contains("502"), "fails closed");
        let mut again = 0u32;
        check(|e| sbx_session_restart_network(s, &mut again, e)).unwrap();
        assert!(again != pid && again != 0 && sbx_session_egress_enforcer_running(s));
        assert!(get("allowed.test", web).starts_with("hello through the proxy"), "back, same policy");

        // After close: typed errors, nothing read.
        sbx_session_close(s);
        let mut p: *mut sbx_egress_policy = sentinel();
        fails_with(check(|e| sbx_session_egress_policy(s, &mut p, e)), sbx_status::Closed, "closed");
        fails_with(set_egress(s, &[]), sbx_status::Closed, "closed");
        assert!(!sbx_session_egress_enforcer_running(s));
        assert_eq!(p, sentinel());
        sbx_session_free(s);
        let c_id = CString::new(id).unwrap();
        check(|e| sbx_context_stop(sc.ctx, c_id.as_ptr(), e)).unwrap();
    }
    assert!(sc.leftovers().is_empty(), "left behind: {:?}", sc.leftovers());
}

#[test]
fn a_session_off_the_egress_network_has_no_policy() {
    let sc = Scope::new("egress-off");
    let (_, spec) = sc.spec("bridge");
    let mut s: *mut sbx_session = sentinel();
    // SAFETY: live handles; every handle freed once.
    unsafe {
        // An egress policy asks for network egress: with bridge, start refuses.
        check(|e| sbx_session_spec_add_egress_rule(spec, c"pypi.org".as_ptr(), e)).unwrap();
        check(|e| sbx_session_spec_set_network(spec, c"bridge".as_ptr(), e)).unwrap();
        fails_with(check(|e| sbx_context_start(sc.ctx, spec, &mut s, e)), sbx_status::InvalidArgument, "egress");
        assert_eq!(s, sentinel());
        sbx_session_spec_free(spec);
        assert!(sc.leftovers().is_empty());

        let (_, s) = sc.start("none");
        let mut p: *mut sbx_egress_policy = sentinel();
        fails_with(check(|e| sbx_session_egress_policy(s, &mut p, e)), sbx_status::NotAvailable, "not on the egress");
        assert_eq!(p, sentinel());
        fails_with(set_egress(s, &["pypi.org"]), sbx_status::InvalidArgument, "not on the egress network");
        fails_with(set_egress(s, &["*"]), sbx_status::InvalidArgument, "egress rule");
        let mut pid = 7u32;
        fails_with(check(|e| sbx_session_restart_network(s, &mut pid, e)), sbx_status::InvalidArgument, "egress");
        assert_eq!(pid, 7);
        assert!(network_log(s).is_empty());
        assert!(!sbx_session_egress_enforcer_running(s));
        sc.stop(s);
    }
}

#[test]
fn egress_credentials_are_added_outside_the_session_and_checked() {
    let sc = Scope::new("egress-cred");
    let (port, seen) = echo_server();
    let secrets = tempfile::tempdir().unwrap();
    let key = format!("k3y-{}-{port}", std::process::id());
    let key_file = secrets.path().join("key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let c_file = CString::new(key_file.to_str().unwrap()).unwrap();
    let port_rule = CString::new(format!("127.0.0.1:{port}")).unwrap();
    let (id, spec) = sc.spec("egress-cred");
    let mut s = null_mut();
    // SAFETY: live handles; every handle freed once.
    unsafe {
        // Typed errors, the spec unchanged by each.
        let add = |host: &CStr, header: &CStr, env: *const c_char, file: *const c_char| {
            check(|e| sbx_session_spec_add_egress_credential(spec, host.as_ptr(), header.as_ptr(), env, file, e))
        };
        let r = add(c"api.test", c"X-Api-Key", null(), c_file.as_ptr());
        fails_with(r, sbx_status::InvalidArgument, "egress credential");
        check(|e| sbx_session_spec_add_egress_rule(spec, c"api.test".as_ptr(), e)).unwrap();
        check(|e| sbx_session_spec_add_egress_rule(spec, port_rule.as_ptr(), e)).unwrap();
        check(|e| sbx_session_spec_pin_egress_host(spec, c"api.test".as_ptr(), c"127.0.0.1".as_ptr(), e)).unwrap();
        for (header, env, file, says) in [
            (c"Host", null(), c_file.as_ptr(), "frames or routes"),
            (c"Proxy-Authorization", null(), c_file.as_ptr(), "frames or routes"),
            (c"bad header", null(), c_file.as_ptr(), "not a header name"),
            (c"X-Api-Key", null(), null(), "exactly one"),
            (c"X-Api-Key", c"TOKEN".as_ptr(), c_file.as_ptr(), "exactly one"),
            (c"X-Api-Key", null(), c"relative/key".as_ptr(), "absolute"),
        ] {
            fails_with(add(c"api.test", header, env, file), sbx_status::InvalidArgument, says);
        }
        fails_with(add(c"API.test", c"X-Api-Key", null(), c_file.as_ptr()), sbx_status::InvalidArgument, "credential");
        fails_with(
            check(|e| sbx_session_spec_add_egress_credential(spec, null(), c"X".as_ptr(), null(), null(), e)),
            sbx_status::NullArgument,
            "host",
        );
        let r = check(|e| sbx_session_spec_add_egress_upstream_ca(spec, c"ca.pem".as_ptr(), e));
        fails_with(r, sbx_status::InvalidArgument, "egress upstream CA");
        add(c"api.test", c"X-Api-Key", null(), c_file.as_ptr()).expect("a good credential");
        fails_with(
            add(c"api.test", c"x-api-key", c"T".as_ptr(), null()),
            sbx_status::InvalidArgument,
            "two credentials",
        );

        // The config's equivalents.
        let mut cfg = null_mut();
        check(|e| sbx_config_new(&mut cfg, e)).unwrap();
        let r = check(|e| {
            sbx_config_add_egress_credential(cfg, c"a.test".as_ptr(), c"X".as_ptr(), c"T".as_ptr(), null(), e)
        });
        fails_with(r, sbx_status::InvalidArgument, "not allowed");
        let (_o, rules) = c_strings(&["a.test"]);
        check(|e| sbx_config_set_egress(cfg, rules.as_ptr(), 1, e)).unwrap();
        check(|e| sbx_config_add_egress_credential(cfg, c"a.test".as_ptr(), c"X".as_ptr(), c"T".as_ptr(), null(), e))
            .unwrap();
        fails_with(
            check(|e| sbx_config_add_egress_upstream_ca(cfg, c"x".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "CA",
        );
        check(|e| sbx_config_add_egress_upstream_ca(cfg, c"/etc/ssl/private-ca.pem".as_ptr(), e)).unwrap();
        sbx_config_free(cfg);

        check(|e| sbx_context_start(sc.ctx, spec, &mut s, e)).expect("start");
        sbx_session_spec_free(spec);

        // The server gets the header with the file's value; the session sees asterisks.
        let out = sh(s, &format!("wget -q -O- http://api.test:{port}/echo 2>&1"));
        let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        assert!(got.contains(&format!("X-Api-Key: {key}")), "the server gets the credential: {got}");
        assert!(out.contains("you sent:") && !out.contains(&key) && out.contains("X-Api-Key: *"), "scrubbed: {out}");

        let mut log = Vec::new();
        wait_until("the request is logged", || {
            log = network_log(s);
            log.iter().any(|d| d.host == "api.test")
        });
        let d = log.iter().find(|d| d.host == "api.test").unwrap();
        assert!(d.allowed && d.injected.as_deref() == Some("X-Api-Key"), "{d:?}");

        // The policy shows where the value is, never the value.
        let mut p = null_mut();
        check(|e| sbx_session_egress_policy(s, &mut p, e)).unwrap();
        assert_eq!(sbx_egress_policy_credential_count(p), 1);
        assert_eq!(text(sbx_egress_policy_credential_host(p, 0)), "api.test");
        assert_eq!(text(sbx_egress_policy_credential_header(p, 0)), "X-Api-Key");
        assert!(sbx_egress_policy_credential_from_env(p, 0).is_null());
        assert_eq!(text(sbx_egress_policy_credential_from_file(p, 0)), key_file.to_str().unwrap());
        assert!(sbx_egress_policy_credential_host(p, 1).is_null());
        assert_eq!(sbx_egress_policy_upstream_ca_count(p), 0);
        let json = text(sbx_egress_policy_json(p));
        assert!(json.contains("\"credentials\"") && !json.contains(&key), "{json}");
        sbx_egress_policy_free(p);

        // Live rule changes keep the credential; dropping its host's rule is refused.
        set_egress(s, &["api.test", port_rule.to_str().unwrap(), "other.test"]).expect("credentials kept");
        assert_eq!(policy(s).unwrap().0.len(), 3);
        fails_with(set_egress(s, &[port_rule.to_str().unwrap()]), sbx_status::InvalidArgument, "credential");

        sbx_session_free(s);
        let c_id = CString::new(id).unwrap();
        check(|e| sbx_context_stop(sc.ctx, c_id.as_ptr(), e)).unwrap();
    }
    assert!(sc.leftovers().is_empty(), "left behind: {:?}", sc.leftovers());
}

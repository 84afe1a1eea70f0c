//! The egress network through the C ABI: spec and config setters with typed errors,
//! and against real podman a session whose policy lets one pinned `.test` name through
//! to a server of this test on the host's loopback (an address rule for its port) and
//! refuses another, the decision log, live policy changes, the policy in force, a killed
//! enforcer restarted, and a session not on the egress network.

mod support;

use std::ffi::{CString, c_char};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::ptr::{null, null_mut};

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

/// An HTTP server on the host's loopback answering every request with `body`.
fn http_server(body: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(std::time::Duration::from_millis(1500))).ok();
                let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(reply.as_bytes());
            });
        }
    });
    port
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
        let denied = log.iter().find(|d| d.host == "denied.test").unwrap();
        assert!(!denied.allowed && denied.port == secret, "{denied:?}");
        assert!(denied.reason.as_deref().unwrap_or_default().contains("not in the allow list"), "{denied:?}");

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

//! Pause and resume through the C ABI against real podman: the report's getters, exec
//! refused with sbx_status::NotRunning while paused, a NULL `out`, NULL arguments, and a
//! stopped session.

mod support;

use std::ptr::{null, null_mut};

use sandbox::*;
use support::{Scope, check, exec, sh, text};

#[test]
fn pause_reports_refuses_exec_and_resume_lets_it_run() {
    let sc = Scope::new("pause");
    let (_, s) = sc.start("pause");
    // SAFETY: live handles, each freed once.
    unsafe {
        assert_eq!(sh(s, "sleep 1000 >/dev/null 2>&1 & echo started"), "started\n");
        let mut report = null_mut();
        check(|e| sbx_session_pause(s, &mut report, e)).unwrap();
        assert!(sbx_pause_report_paused(report) && sbx_pause_report_changed(report));
        assert_eq!(text(sbx_pause_report_method(report)), "signals");
        assert!(sbx_pause_report_processes(report) >= 1, "the background sleep was stopped");
        sbx_pause_report_free(report);

        let f = exec(s, &["true"], null()).expect_err("exec while paused");
        assert_eq!(f.status, sbx_status::NotRunning, "{f:?}");
        assert!(f.message.contains("paused"), "{f:?}");

        // Again: nothing changes; `out` may be NULL.
        let mut again = null_mut();
        check(|e| sbx_session_pause(s, &mut again, e)).unwrap();
        assert!(sbx_pause_report_paused(again) && !sbx_pause_report_changed(again));
        sbx_pause_report_free(again);
        check(|e| sbx_session_resume(s, null_mut(), e)).unwrap();
        assert_eq!(sh(s, "echo back"), "back\n");
        let mut r = null_mut();
        check(|e| sbx_session_resume(s, &mut r, e)).unwrap();
        assert!(!sbx_pause_report_paused(r) && !sbx_pause_report_changed(r), "resuming a running session");
        sbx_pause_report_free(r);

        // NULL handles: typed errors and neutral getters.
        let f = check(|e| sbx_session_pause(null(), null_mut(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        assert!(!sbx_pause_report_paused(null()) && sbx_pause_report_method(null()).is_null());
        assert_eq!((sbx_pause_report_processes(null()), sbx_pause_report_took_us(null())), (0, 0));
        sbx_pause_report_free(null_mut());

        // A paused session stops; pausing it after is SESSION_NOT_FOUND, `out` untouched.
        check(|e| sbx_session_pause(s, null_mut(), e)).unwrap();
        check(|e| sbx_session_stop(s, e)).unwrap();
        let mut untouched = support::sentinel::<sbx_pause_report>();
        let f = check(|e| sbx_session_pause(s, &mut untouched, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::SessionNotFound, "{f:?}");
        assert_eq!(untouched, support::sentinel());
        sbx_session_free(s);
    }
    assert!(sc.leftovers().is_empty(), "{:?}", sc.leftovers());
}

//! Helpers for the export tests: safe wrappers that turn a status plus `sbx_error` into
//! a `Result`, and a per-test scope whose containers and control dirs are removed when
//! it drops, even when the test fails.

#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sandbox::*;

/// A failed call: its status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: sbx_status,
    pub message: String,
}

/// Runs an export with an error slot and converts the outcome.
pub fn check(f: impl FnOnce(*mut *mut sbx_error) -> sbx_status) -> Result<(), Failure> {
    let mut err: *mut sbx_error = std::ptr::null_mut();
    let status = f(&mut err);
    if status == sbx_status::Ok {
        assert!(err.is_null(), "success must not create an error");
        return Ok(());
    }
    assert!(!err.is_null(), "a failure with an err slot must fill it");
    // SAFETY: `err` was just created by the library and is freed once, below.
    let failure = unsafe {
        assert_eq!(sbx_error_code(err), status, "the error carries the returned status");
        let message = CStr::from_ptr(sbx_error_message(err)).to_string_lossy().into_owned();
        sbx_error_free(err);
        Failure { status, message }
    };
    assert!(!failure.message.is_empty(), "every error has a message");
    Err(failure)
}

/// Borrowed C string to Rust.
pub fn text(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: non-NULL strings returned by the library are NUL-terminated and live
    // while their handle lives (the caller holds it).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique name: `<tag>-<pid>-<n>`.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A scope (config + context) of its own, cleaned up on drop.
pub struct Scope {
    pub scope: String,
    pub ctx: *mut sbx_context,
    pub dir: tempfile::TempDir,
}

impl Scope {
    pub fn new(tag: &str) -> Scope {
        let scope = unique(&format!("ffi-{tag}"));
        let mut cfg: *mut sbx_config = std::ptr::null_mut();
        let c_scope = CString::new(scope.clone()).unwrap();
        let mut ctx: *mut sbx_context = std::ptr::null_mut();
        // SAFETY: valid out-pointers and strings; the config is freed once.
        unsafe {
            check(|e| sbx_config_from_env(&mut cfg, e)).expect("config from env");
            check(|e| sbx_config_set_scope(cfg, c_scope.as_ptr(), e)).unwrap();
            check(|e| sbx_config_set_provision(cfg, false, e)).unwrap();
            check(|e| sbx_context_new(cfg, &mut ctx, e)).unwrap();
            sbx_config_free(cfg);
        }
        Scope { scope, ctx, dir: tempfile::tempdir().unwrap() }
    }

    pub fn spec(&self, tag: &str) -> (String, *mut sbx_session_spec) {
        let id = unique(tag);
        let c_id = CString::new(id.clone()).unwrap();
        let c_dir = CString::new(self.dir.path().to_str().unwrap()).unwrap();
        let mut spec = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointer.
        check(|e| unsafe { sbx_session_spec_new(c_id.as_ptr(), c_dir.as_ptr(), &mut spec, e) }).unwrap();
        (id, spec)
    }

    /// Starts a session with a default spec.
    pub fn start(&self, tag: &str) -> (String, *mut sbx_session) {
        let (id, spec) = self.spec(tag);
        let mut s = std::ptr::null_mut();
        // SAFETY: live context and spec; the spec is freed once.
        unsafe {
            check(|e| sbx_context_start(self.ctx, spec, &mut s, e)).expect("start");
            sbx_session_spec_free(spec);
        }
        (id, s)
    }

    /// Stops and frees the session `s`, then asserts that nothing of this scope is left.
    ///
    /// # Safety
    /// `s` is a live session of this scope, not used after.
    pub unsafe fn stop(&self, s: *mut sbx_session) {
        // SAFETY: live by contract, freed once here.
        unsafe {
            check(|e| sbx_session_stop(s, e)).unwrap();
            sbx_session_free(s);
        }
        assert!(self.leftovers().is_empty(), "left behind: {:?}", self.leftovers());
    }

    /// Containers of this scope that still exist.
    pub fn leftovers(&self) -> Vec<String> {
        let out = Command::new("podman")
            .args(["ps", "-a", "--filter", &format!("label=sandbox.scope={}", self.scope), "--format", "{{.Names}}"])
            .output()
            .expect("podman ps");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let out = Command::new("podman")
            .args(["ps", "-a", "--filter", &format!("label=sandbox.scope={}", self.scope)])
            .args(["--format", "{{.Names}} {{index .Labels \"sandbox.control\"}}"])
            .output();
        if let Ok(out) = out {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut parts = line.splitn(2, ' ');
                let name = parts.next().unwrap_or_default();
                let _ = Command::new("podman").args(["rm", "-f", "-t", "0", name]).output();
                if let Some(dir) = parts.next().filter(|d| d.starts_with('/')) {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
        // SAFETY: the context was created in `new` and is freed only here.
        unsafe { sbx_context_free(self.ctx) };
    }
}

/// Runs `argv` and returns the result handle.
pub fn exec(
    s: *const sbx_session,
    argv: &[&str],
    opts: *const sbx_exec_options,
) -> Result<*mut sbx_exec_result, Failure> {
    let owned: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    let mut r = std::ptr::null_mut();
    // SAFETY: `ptrs` holds `len` live strings for the call; `r` is writable.
    check(|e| unsafe { sbx_session_exec(s, ptrs.as_ptr(), ptrs.len(), opts, &mut r, e) })?;
    Ok(r)
}

/// The stdout bytes of a result.
pub fn stdout(r: *const sbx_exec_result) -> Vec<u8> {
    let (mut p, mut n) = (std::ptr::null(), 0usize);
    // SAFETY: live result; the view is copied before the result can be freed.
    unsafe {
        check(|e| sbx_exec_result_stdout(r, &mut p, &mut n, e)).unwrap();
        std::slice::from_raw_parts(p, n).to_vec()
    }
}

/// A raw handle pointer that may be sent to the thread that uses it (each test joins its
/// threads before freeing the handle).
pub struct Shared<T>(pub *mut T);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: handles are documented as usable from any thread; the tests join every thread
// before freeing.
unsafe impl<T> Send for Shared<T> {}

/// A pointer value no failing call may write over.
pub fn sentinel<T>() -> *mut T {
    std::ptr::dangling_mut::<T>()
}

/// The bytes of an output chunk.
pub fn chunk_bytes(c: *const sbx_output_chunk) -> Vec<u8> {
    let (mut p, mut n) = (std::ptr::null(), 0usize);
    // SAFETY: live chunk; the view is copied before the chunk can be freed.
    unsafe {
        check(|e| sbx_output_chunk_data(c, &mut p, &mut n, e)).unwrap();
        std::slice::from_raw_parts(p, n).to_vec()
    }
}

/// The bytes of an exec event.
pub fn event_bytes(ev: *const sbx_exec_event) -> Vec<u8> {
    let (mut p, mut n) = (std::ptr::null(), 0usize);
    // SAFETY: live event; the view is copied before the event can be freed.
    unsafe {
        check(|e| sbx_exec_event_data(ev, &mut p, &mut n, e)).unwrap();
        std::slice::from_raw_parts(p, n).to_vec()
    }
}

/// Reads a terminal from `*offset` until its output (from where the read started)
/// contains `needle`; returns what was read. Fails the test after many reads without it.
pub fn read_terminal_until(t: *const sbx_terminal, offset: &mut u64, needle: &str) -> String {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let mut c = std::ptr::null_mut();
        // SAFETY: live terminal; the chunk is freed once.
        match check(|e| unsafe { sbx_terminal_read(t, *offset, 65536, 200, std::ptr::null(), &mut c, e) }) {
            Ok(()) => {
                seen.extend(chunk_bytes(c));
                // SAFETY: live chunk, freed once.
                unsafe {
                    *offset = sbx_output_chunk_next_offset(c);
                    sbx_output_chunk_free(c);
                }
            }
            Err(f) if f.status == sbx_status::Timeout => {}
            Err(f) => panic!("terminal read failed: {f:?}"),
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(needle) {
            return text;
        }
    }
    panic!("terminal output never contained {needle:?}: {:?}", String::from_utf8_lossy(&seen));
}

/// Runs a shell command line in the session and returns its stdout as text.
pub fn sh(s: *const sbx_session, line: &str) -> String {
    let r = exec(s, &["sh", "-c", line], std::ptr::null()).expect("exec");
    let out = String::from_utf8_lossy(&stdout(r)).into_owned();
    // SAFETY: freed once.
    unsafe { sbx_exec_result_free(r) };
    out
}

/// Polls `cond` (every 50 ms, up to 20 s) until it holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

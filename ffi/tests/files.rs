//! Files through the C ABI against real podman: a byte-exact round trip, stat, list_dir,
//! modes, symlinks, remove, typed errors. Each test has its own scope and removes what it
//! made, even when it fails.

mod support;

use std::ffi::CString;
use std::ptr::null_mut;

use sandbox::*;
use support::{Failure, Scope, check, sentinel, sh, text};

fn write_file(s: *const sbx_session, path: &str, data: &[u8], mode: i32) -> Result<(), Failure> {
    let p = CString::new(path).unwrap();
    // SAFETY: live session; the path and data live for the call.
    check(|e| unsafe { sbx_session_write_file(s, p.as_ptr(), data.as_ptr(), data.len(), mode, e) })
}

fn read_file(s: *const sbx_session, path: &str) -> Result<Vec<u8>, Failure> {
    let p = CString::new(path).unwrap();
    let mut b = null_mut();
    // SAFETY: live session; the buffer is copied, then freed once.
    unsafe {
        check(|e| sbx_session_read_file(s, p.as_ptr(), &mut b, e))?;
        let (mut data, mut len) = (std::ptr::null(), 0usize);
        check(|e| sbx_buffer_data(b, &mut data, &mut len, e)).unwrap();
        assert_eq!(sbx_buffer_len(b), len);
        let out = std::slice::from_raw_parts(data, len).to_vec();
        sbx_buffer_free(b);
        Ok(out)
    }
}

fn stat(s: *const sbx_session, path: &str) -> Result<*mut sbx_file_info, Failure> {
    let p = CString::new(path).unwrap();
    let mut info = null_mut();
    // SAFETY: live session, writable out-pointer.
    check(|e| unsafe { sbx_session_stat(s, p.as_ptr(), &mut info, e) })?;
    Ok(info)
}

#[test]
fn round_trip_stat_list_remove() {
    let sc = Scope::new("files");
    let (_, s) = sc.start("files");
    let dir = format!("{}/data", sc.dir.path().display());
    let c_dir = CString::new(dir.clone()).unwrap();
    // SAFETY: live handles, each freed once.
    unsafe {
        sh(s, &format!("mkdir -p '{dir}'"));
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1_500_000).collect();
        write_file(s, &format!("{dir}/b.bin"), &bytes, -1).unwrap();
        assert_eq!(read_file(s, &format!("{dir}/b.bin")).unwrap(), bytes, "byte-exact, NULs included");
        write_file(s, &format!("{dir}/a.txt"), b"", 0o600).unwrap();
        assert_eq!(read_file(s, &format!("{dir}/a.txt")).unwrap(), b"");
        write_file(s, &format!("{dir}/a.txt"), b"second", -1).unwrap();
        assert_eq!(read_file(s, &format!("{dir}/a.txt")).unwrap(), b"second");
        sh(s, &format!("ln -s a.txt '{dir}/link' && mkdir '{dir}/sub'"));

        let info = stat(s, &format!("{dir}/a.txt")).unwrap();
        assert_eq!(text(sbx_file_info_name(info)), "a.txt");
        assert_eq!(sbx_file_info_kind(info), sbx_file_kind::File);
        assert_eq!(sbx_file_info_size(info), 6);
        assert_eq!(sbx_file_info_mode(info), 0o600, "a rewrite keeps the mode");
        assert!(sbx_file_info_modified_unix_ms(info) > 0);
        assert!(sbx_file_info_target(info).is_null());
        sbx_file_info_free(info);
        let info = stat(s, &format!("{dir}/b.bin")).unwrap();
        assert_eq!(sbx_file_info_mode(info), 0o644);
        sbx_file_info_free(info);
        let info = stat(s, &format!("{dir}/link")).unwrap();
        assert_eq!(sbx_file_info_kind(info), sbx_file_kind::Symlink);
        assert_eq!(text(sbx_file_info_target(info)), "a.txt");
        sbx_file_info_free(info);
        // The host sees what the container wrote (same path).
        assert_eq!(std::fs::read(format!("{dir}/a.txt")).unwrap(), b"second");

        let mut list = null_mut();
        check(|e| sbx_session_list_dir(s, c_dir.as_ptr(), &mut list, e)).unwrap();
        let names: Vec<String> =
            (0..sbx_file_list_len(list)).map(|i| text(sbx_file_info_name(sbx_file_list_get(list, i)))).collect();
        assert_eq!(names, ["a.txt", "b.bin", "link", "sub"]);
        assert_eq!(sbx_file_info_kind(sbx_file_list_get(list, 3)), sbx_file_kind::Dir);
        assert!(sbx_file_list_get(list, 4).is_null());
        sbx_file_list_free(list);

        let a = CString::new(format!("{dir}/a.txt")).unwrap();
        check(|e| sbx_session_remove(s, a.as_ptr(), false, e)).unwrap();
        let f = stat(s, &format!("{dir}/a.txt")).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        let f = check(|e| sbx_session_remove(s, a.as_ptr(), false, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        let f = check(|e| sbx_session_remove(s, c_dir.as_ptr(), false, e)).unwrap_err();
        assert_ne!(f.status, sbx_status::Ok, "a non-empty dir needs recursive");
        check(|e| sbx_session_remove(s, c_dir.as_ptr(), true, e)).unwrap();
        assert!(!std::path::Path::new(&dir).exists());
        sc.stop(s);
    }
}

#[test]
fn file_errors_are_typed() {
    let sc = Scope::new("fileerr");
    let (_, s) = sc.start("fileerr");
    // SAFETY: live handles, each freed once.
    unsafe {
        let f = read_file(s, "/no/such/file").unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        let f = write_file(s, "/no/such/dir/file", b"x", -1).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        for mode in [-2, 0o10000] {
            let f = write_file(s, "/tmp/m", b"x", mode).unwrap_err();
            assert_eq!(f.status, sbx_status::InvalidArgument, "{mode}: {f:?}");
        }
        let f = write_file(s, "", b"x", -1).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        let f = check(|e| sbx_session_write_file(s, c"/tmp/x".as_ptr(), std::ptr::null(), 3, -1, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        let mut list: *mut sbx_file_list = sentinel();
        let f = check(|e| sbx_session_list_dir(s, c"/no/such/dir".as_ptr(), &mut list, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        assert_eq!(list, sentinel());
        let f = read_file(s, "/tmp").unwrap_err();
        assert!(matches!(f.status, sbx_status::Io | sbx_status::InvalidArgument), "a directory: {f:?}");
        sbx_session_close(s);
        let f = read_file(s, "/etc/hostname").unwrap_err();
        assert_eq!(f.status, sbx_status::Closed);
        sbx_session_free(s);
    }
}

//! File operations inside the session, as the container sees paths.

use std::time::Duration;

use sandbox_core::{ErrorKind, ExecOptions, FileKind};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(120);

#[test]
fn write_read_list_stat_remove() {
    let t = TestScope::new("files");
    run(T, async {
        let s = t.sandbox.start(t.spec("files")).await.unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        s.write_file("/tmp/dir/../bin.dat", &data, None).await.unwrap_err(); // /tmp/dir does not exist
        s.exec(&["mkdir", "-p", "/tmp/dir/sub"], ExecOptions::new()).await.unwrap();
        s.write_file("/tmp/dir/bin.dat", &data, Some(0o640)).await.unwrap();
        assert_eq!(s.read_file("/tmp/dir/bin.dat").await.unwrap(), data);
        let st = s.stat("/tmp/dir/bin.dat").await.unwrap();
        assert_eq!((st.name.as_str(), st.kind, st.size, st.mode), ("bin.dat", FileKind::File, 300_000, 0o640));
        // Replacing keeps the mode unless one is given; no temporary file is left.
        s.write_file("/tmp/dir/bin.dat", b"small", None).await.unwrap();
        assert_eq!(s.stat("/tmp/dir/bin.dat").await.unwrap().mode, 0o640);
        s.exec(&["ln", "-s", "bin.dat", "/tmp/dir/link"], ExecOptions::new()).await.unwrap();
        let entries = s.list_dir("/tmp/dir").await.unwrap();
        let names: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(names, vec![("bin.dat", FileKind::File), ("link", FileKind::Symlink), ("sub", FileKind::Dir)]);
        assert_eq!(entries[1].target.as_deref(), Some("bin.dat"));
        assert!(entries[0].modified > std::time::SystemTime::UNIX_EPOCH);
        // Relative paths are relative to the working dir, shared with the host.
        s.write_file("rel.txt", b"relative", None).await.unwrap();
        assert_eq!(std::fs::read(t.dir.path().join("rel.txt")).unwrap(), b"relative");
        // A path through `..` or a symlink is the container's own view: fine.
        assert_eq!(s.read_file("/tmp/dir/sub/../link").await.unwrap(), b"small");
        let e = s.remove("/tmp/dir", false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        s.remove("/tmp/dir", true).await.unwrap();
        assert_eq!(s.stat("/tmp/dir").await.unwrap_err().kind(), ErrorKind::NotFound);
        s.stop().await.unwrap();
    });
}

#[test]
fn bad_file_input_is_typed() {
    let t = TestScope::new("badfiles");
    run(T, async {
        let s = t.sandbox.start(t.spec("badfiles")).await.unwrap();
        for path in ["", "a\0b"] {
            assert_eq!(s.read_file(path).await.unwrap_err().kind(), ErrorKind::InvalidInput, "{path:?}");
            assert_eq!(s.write_file(path, b"x", None).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(s.stat(path).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(s.list_dir(path).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(s.remove(path, false).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        assert_eq!(s.read_file("/no/such/file").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.list_dir("/no/such").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.read_file("/tmp").await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(s.write_file("/tmp", b"x", None).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(s.write_file("/tmp/x", b"x", Some(0o10000)).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let e = s.write_file("/proc/version", b"x", None).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Io | ErrorKind::NotFound), "{e}");
        s.stop().await.unwrap();
    });
}

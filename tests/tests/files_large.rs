//! A 200 MiB file round-trips byte-exact while the host holds a few MiB at most. Alone in
//! its own test binary so its peak-memory reading sees no other test.

use std::time::Duration;

use sandbox_e2e::{GeneratedSource, HashingSink, TestScope, peak_rss, run};

#[test]
fn two_hundred_mebibytes_round_trip_in_bounded_memory() {
    let t = TestScope::new("bigfile");
    run(Duration::from_secs(300), async {
        let s = t.sandbox.start(t.spec("bigfile")).await.unwrap();
        s.write_file("/tmp/warm", b"warm", None).await.unwrap();
        let before = peak_rss();
        let len: u64 = 200 << 20;
        let mut src = GeneratedSource::new(len, 42);
        let written = s.write_file_from("big.bin", &mut src, None).await.unwrap();
        assert_eq!(written, len);
        assert_eq!(std::fs::metadata(t.dir.path().join("big.bin")).unwrap().len(), len);
        let mut sink = HashingSink::default();
        let read = s.read_file_to("big.bin", &mut sink).await.unwrap();
        assert_eq!(read, len);
        assert_eq!(sink.len, len);
        assert_eq!(sink.digest(), src.digest());
        let growth = peak_rss().saturating_sub(before);
        assert!(growth < 64 << 20, "peak memory grew by {growth} bytes for a {len}-byte file");
        s.stop().await.unwrap();
    });
}

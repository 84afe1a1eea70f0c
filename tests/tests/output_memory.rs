//! 100 MiB of output with the default cap: the caller's memory stays near the cap.
//! Alone in its own test binary so its peak-memory reading sees no other test.

use std::time::Duration;

use sandbox_core::{DEFAULT_OUTPUT_CAP, ExecOptions};
use sandbox_e2e::{TestScope, peak_rss, run};

#[test]
fn hundred_mebibytes_of_output_is_capped_without_memory_growth() {
    let t = TestScope::new("memcap");
    run(Duration::from_secs(180), async {
        let s = t.sandbox.start(t.spec("memcap")).await.unwrap();
        s.exec(&["true"], ExecOptions::new()).await.unwrap();
        let before = peak_rss();
        let o = s.exec(&["head", "-c", "104857600", "/dev/zero"], ExecOptions::new()).await.unwrap();
        let growth = peak_rss().saturating_sub(before);
        assert!(o.success());
        assert_eq!(o.stdout.len() as u64, DEFAULT_OUTPUT_CAP);
        assert!(o.stdout_truncated);
        assert_eq!(o.stdout_total, 100 << 20);
        assert!(
            growth <= 2 * DEFAULT_OUTPUT_CAP,
            "peak memory grew by {growth} bytes for a {DEFAULT_OUTPUT_CAP}-byte cap"
        );
        s.stop().await.unwrap();
    });
}

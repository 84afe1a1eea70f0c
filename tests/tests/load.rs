//! Load, at CI size (the full 50 x 200 x 5 run is `sandbox-load`, see the README):
//! sessions at once, execs and tasks concurrently, every byte checked, then nothing left.

use std::time::Duration;

use sandbox_e2e::load::{LoadParams, run_load};
use sandbox_e2e::{TestScope, run};

#[test]
fn many_sessions_at_once_lose_nothing_and_leave_nothing() {
    let t = TestScope::new("load");
    run(Duration::from_secs(600), async {
        let params =
            LoadParams { sessions: 8, execs: 40, tasks: 2, concurrency: 4, exec_bytes: 4096, task_bytes: 128 * 1024 };
        let r = run_load(&t.sandbox, t.dir.path(), params).await;
        println!("{r:?}");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.mismatches, 0);
        assert_eq!(r.execs, 8 * 40);
        assert!(r.fds.1 <= r.fds.0 + 2, "file descriptors grew: {:?}", r.fds);
        assert!(t.sandbox.list().await.unwrap().is_empty());
        assert_eq!(r.control_dirs_left, 0, "control dirs left behind");
    });
    assert!(t.leftovers().is_empty());
}

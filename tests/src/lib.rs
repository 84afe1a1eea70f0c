//! Support for the end-to-end tests: isolated sandboxes per test (a unique scope), and a
//! guard that removes every container and control dir a test made, even when it fails.

pub mod pty;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sandbox_core::{Config, Sandbox, SessionSpec};

pub mod load;
pub mod probe_table;

/// A sandbox whose sessions are visible only to one test, and removed when it drops.
pub struct TestScope {
    /// The sandbox to use in the test.
    pub sandbox: Sandbox,
    /// The scope label value.
    pub scope: String,
    /// A private working dir for the test's sessions.
    pub dir: tempfile::TempDir,
    /// The test's own snapshot dir (the sandbox's `snapshot_dir`); its snapshots'
    /// images are removed with it.
    pub snapshots: tempfile::TempDir,
    podman: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short id unique within this machine run: `<tag>-<pid>-<n>`.
pub fn unique_id(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    format!("{tag}-{}-{n}", std::process::id())
}

/// The configuration tests use: defaults, plus `SANDBOX_*` from the environment, with
/// provisioning off (the test image has no package manager; provisioning has its own
/// test) and the given scope.
pub fn test_config(scope: &str) -> Config {
    let mut c = Config::load().expect("test configuration");
    c.scope = scope.to_string();
    c.provision = false;
    c
}

impl TestScope {
    /// A fresh scope named after the test.
    pub fn new(test: &str) -> TestScope {
        let scope = unique_id(test);
        let snapshots = tempfile::Builder::new().prefix("sbx-snapshots").tempdir().expect("snapshot tempdir");
        let mut config = test_config(&scope);
        config.snapshot_dir = Some(snapshots.path().to_path_buf());
        let podman = config.podman.clone();
        TestScope {
            sandbox: Sandbox::new(config),
            scope,
            dir: tempfile::tempdir().expect("tempdir"),
            snapshots,
            podman,
        }
    }

    /// A spec for a new session in this scope's working dir.
    pub fn spec(&self, tag: &str) -> SessionSpec {
        SessionSpec::new(unique_id(tag), self.dir.path())
    }

    /// Container names of this scope that still exist.
    pub fn leftovers(&self) -> Vec<String> {
        let out = Command::new(&self.podman)
            .args(["ps", "--all", "--no-trunc", "--filter", &format!("label=sandbox.scope={}", self.scope)])
            .args(["--format", "json"])
            .output()
            .expect("podman ps");
        sandbox_core::parse_ps(&out.stdout).expect("ps json").into_iter().map(|r| r.name).collect()
    }
}

impl Drop for TestScope {
    fn drop(&mut self) {
        let out = Command::new(&self.podman)
            .args(["ps", "--all", "--no-trunc", "--filter", &format!("label=sandbox.scope={}", self.scope)])
            .args(["--format", "json"])
            .output();
        let Ok(out) = out else { return };
        for r in sandbox_core::parse_ps(&out.stdout).unwrap_or_default() {
            let _ = Command::new(&self.podman).args(["rm", "--force", "--time", "0", &r.name]).output();
            if let Some(dir) = r.labels.get(sandbox_core::labels::CONTROL) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // Overlay copies of the scope's snapshots (children it started): unmounted, their
        // mount points removed, before the snapshot dir goes.
        // Managed copies (in the copy dir) are removed whole, then the copy dir if empty.
        let uid = rustix::process::geteuid().as_raw();
        let managed = sandbox_core::snapshot::copy_dir(self.sandbox.config(), uid);
        let records = std::fs::read_dir(self.snapshots.path()).into_iter().flatten().flatten();
        for copies in records.filter_map(|s| std::fs::read_dir(s.path().join("copies")).ok()) {
            for record in copies.flatten() {
                let Ok(path) = std::fs::read(record.path().join("path")) else { continue };
                let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&path));
                let _ = if rootless() {
                    Command::new("fusermount3").arg("-uz").arg(&path).output()
                } else {
                    Command::new("umount").arg("-l").arg(&path).output()
                };
                if path.starts_with(&managed) {
                    let _ = Command::new(&self.podman).args(["unshare", "rm", "-rf", "--"]).arg(&path).output();
                    let _ = std::fs::remove_dir_all(&path);
                }
                let _ = std::fs::remove_dir(&path);
            }
        }
        let _ = std::fs::remove_dir(&managed);
        let store = self.snapshots.path().display().to_string();
        let filter = format!("label={}={store}", sandbox_core::snapshot::SNAPSHOT_STORE_LABEL);
        if let Ok(out) = Command::new(&self.podman).args(["images", "-q", "--no-trunc", "--filter", &filter]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new(&self.podman).args(["rmi", "--force", id]).output();
            }
        }
        // Rootless, a session can leave files its owner cannot remove outside podman's
        // user namespace (a directory without write permission).
        if rootless() {
            let _ = Command::new(&self.podman).args(["unshare", "rm", "-rf", "--", &store]).output();
        }
    }
}

/// Runs an async test body with a hard time bound, so a bug shows as a failure, not a
/// hung CI job.
pub fn run<F: std::future::Future<Output = ()>>(limit: Duration, body: F) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(limit, body).await.expect("test exceeded its time bound");
    });
}

/// A TCP port that was free a moment ago.
///
/// It is below the kernel's ephemeral range (32768 and up by default): a port the
/// kernel hands out for the asking is what it hands the next outgoing connection too
/// (the containers of tests running at once make many), which may hold it by the time
/// the test uses it. Each call starts from another place, so tests running at once do
/// not pick the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919).wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(97));
    (0..12_000u32)
        .map(|i| 20_000 + (start.wrapping_add(i) % 12_000) as u16)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port between 20000 and 32000")
}

/// Whether this process runs rootless podman (not root).
pub fn rootless() -> bool {
    rustix::process::getuid().as_raw() != 0
}

/// Path of the helper binary that plays "another process" in tests: `built` (the
/// `CARGO_BIN_EXE_` path of the test's build) unless `SANDBOX_E2E_HELPER` names a copy
/// (the rootless run executes copies of the test binaries).
pub fn helper_path(built: &str) -> PathBuf {
    match std::env::var_os("SANDBOX_E2E_HELPER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(built),
    }
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// SHA-256 of bytes, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `podman run -d` arguments for a plain container that sandbox did not create (no
/// sandbox labels), with the host flags the probe chose.
pub async fn foreign_container_args(sandbox: &Sandbox, name: &str) -> Vec<String> {
    let host = sandbox.info().await.expect("probe");
    let mut a: Vec<String> = ["run", "-d", "--name", name, "--pull=never"].iter().map(|s| s.to_string()).collect();
    if let Some(rt) = host.runtime_override {
        a.extend(["--runtime".into(), rt]);
    }
    if let Some(u) = host.ulimits {
        a.extend(["--ulimit".into(), format!("nofile={0}:{0}", u.nofile)]);
        a.extend(["--ulimit".into(), format!("nproc={0}:{0}", u.nproc)]);
    }
    a.extend([sandbox.config().default_image.clone(), "sleep".into(), "300".into()]);
    a
}

/// Deterministic pseudo-random bytes, produced on the fly (an `AsyncRead`) and hashed
/// as they go, so huge transfers need no buffer of their size.
pub struct GeneratedSource {
    left: u64,
    state: u64,
    hasher: sha2::Sha256,
}

impl GeneratedSource {
    /// `len` bytes from `seed`.
    pub fn new(len: u64, seed: u64) -> Self {
        use sha2::Digest;
        GeneratedSource { left: len, state: seed | 1, hasher: sha2::Sha256::new() }
    }
    /// Hex SHA-256 of what was produced.
    pub fn digest(self) -> String {
        use sha2::Digest;
        self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl tokio::io::AsyncRead for GeneratedSource {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use sha2::Digest;
        let n = (buf.remaining() as u64).min(self.left).min(1 << 20) as usize;
        let mut chunk = vec![0u8; n];
        for b in chunk.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        self.hasher.update(&chunk);
        self.left -= n as u64;
        buf.put_slice(&chunk);
        std::task::Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` that only hashes and counts what it is given.
#[derive(Default)]
pub struct HashingSink {
    /// Bytes written.
    pub len: u64,
    hasher: sha2::Sha256,
}

impl HashingSink {
    /// Hex SHA-256 of what was written.
    pub fn digest(self) -> String {
        use sha2::Digest;
        self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl tokio::io::AsyncWrite for HashingSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use sha2::Digest;
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Compiles a C probe statically (so it runs in any image) into `dir/<name>` and returns
/// that path. Panics with the compiler's message when it does not build.
pub fn build_static_probe(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let cc = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("a C compiler (cc) is needed for the probes ({name}): {e}"));
    assert!(cc.status.success(), "building {name}: {}", String::from_utf8_lossy(&cc.stderr));
    std::fs::remove_file(&src).unwrap();
    out
}

/// The body of `GET /index.html` on 127.0.0.1:`port` once it answers 200, retried until
/// `limit` (the last answer or error otherwise).
pub fn http_get(port: u16, limit: Duration) -> Result<String, String> {
    let start = std::time::Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let _ = std::io::Write::write_all(&mut s, b"GET /index.html HTTP/1.0\r\n\r\n");
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(&mut s, &mut body);
                if body.contains("200") {
                    return Ok(body);
                }
                last = body;
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

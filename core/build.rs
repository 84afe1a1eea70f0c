//! Builds `sandbox-agent` as a static binary with a nested cargo invocation (into its own
//! target dir, so it never contends with the outer build's lock) and embeds it, so users
//! of sandbox-core install nothing extra. `SANDBOX_AGENT_BIN` may name a prebuilt agent.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("core/ has a parent").to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    for p in ["agent/src", "agent/Cargo.toml", "proto/src", "proto/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=SANDBOX_AGENT_BIN");

    let built = match std::env::var_os("SANDBOX_AGENT_BIN") {
        Some(p) => PathBuf::from(p),
        None => build_agent(&workspace, &out_dir),
    };
    let bytes = std::fs::read(&built).unwrap_or_else(|e| panic!("reading agent binary {}: {e}", built.display()));
    let embedded = out_dir.join("sandbox-agent");
    std::fs::write(&embedded, &bytes).expect("writing embedded agent copy");
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=SANDBOX_AGENT_PATH={}", embedded.display());
    println!("cargo:rustc-env=SANDBOX_AGENT_SHA256={hex}");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

/// The agent gets its own target dir beside cargo's (found by the CACHEDIR.TAG cargo
/// writes at the target root), shared by every profile of the outer build.
fn agent_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(|root| root.join("sandbox-agent"))
        .unwrap_or_else(|| out_dir.join("agent-target"))
}

fn build_agent(workspace: &Path, out_dir: &Path) -> PathBuf {
    let target = env("TARGET");
    assert!(target.contains("linux"), "the sandbox agent runs in Linux containers; target {target} is not Linux");
    let target_dir = agent_target_dir(out_dir);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The outer build's variables describe sandbox-core, not the agent: drop them.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = key == "CARGO_HOME"
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_REGISTRY_")
            || key.starts_with("CARGO_SOURCE_");
        let drop = (key.starts_with("CARGO_") && !keep)
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTDOC"
            );
        if drop {
            cmd.env_remove(&key);
        }
    }
    // Stripped: the agent is copied into every library and cache; its panics still
    // name file and line (those are compiled in, not read from debug info).
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .arg("build")
        .arg("--release")
        .args(["-p", "sandbox-agent", "--target", &target])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if workspace.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    let out = cmd.output().expect("running cargo to build sandbox-agent");
    if !out.status.success() {
        panic!(
            "building sandbox-agent failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    target_dir.join(&target).join("release").join("sandbox-agent")
}

//! Building a `devcontainer.json`'s Dockerfile with `podman build`, when the policy
//! allows it (`allow_build`). The Dockerfile is the project's, so the build is held to
//! what a session may do:
//!
//! - the Dockerfile and the build context must lie inside the working dir (the context
//!   is what `COPY` can read);
//! - every base image (`FROM`, `COPY --from`) must be trusted (or untrusted images
//!   allowed), written out (no `${VAR}` a build argument could change), and local: the
//!   build never pulls;
//! - no step may reach past the build: `ADD` of a URL or a git repository (fetched by
//!   podman on the host, with the host's network), and `RUN --mount`, `--network` or
//!   `--security` are refused;
//! - the build runs without network, with a session's capabilities and limits, and the
//!   checked Dockerfile is what podman reads (on its stdin), not the file again.
//!
//! The checks read the Dockerfile line by line and refuse anything they cannot vouch
//! for (a `FROM` continued on the next line, say), so a Dockerfile that is fine may be
//! refused; never the other way round.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::host_info::HostInfo;
use crate::policy::Limits;
use crate::run_args::CAP_ADD;

/// Largest Dockerfile read.
pub const MAX_DOCKERFILE_BYTES: u64 = 1 << 20;

/// Prefix of the images built for sessions; the rest of the name is a digest of what
/// was built.
pub const BUILT_IMAGE_PREFIX: &str = "localhost/sandbox-devcontainer-";

/// Label on built images naming the working dir they were built for.
pub const BUILT_FOR_LABEL: &str = "sandbox.devcontainer.workdir";

/// One image build, checked and ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBuild {
    /// The image's name (see [`BUILT_IMAGE_PREFIX`]).
    pub tag: String,
    /// The build context: an absolute path inside the working dir.
    pub context: String,
    /// The Dockerfile's path, relative to the working dir (for messages).
    pub dockerfile_path: String,
    /// The Dockerfile as checked; podman reads this, on its stdin.
    pub dockerfile: String,
    /// Build arguments.
    pub args: Vec<(String, String)>,
    /// The stage to build, if not the last.
    pub target: Option<String>,
    /// Limits of the build's steps (the session's), when the host can apply them.
    pub limits: Option<Limits>,
    /// The working dir, recorded on the image ([`BUILT_FOR_LABEL`]).
    pub working_dir: String,
}

/// What a build step is given: the file to read and the check of base images.
pub(crate) struct BuildInputs<'a> {
    /// The working dir (canonical).
    pub working_dir: &'a Path,
    /// The folder of the `devcontainer.json`, relative to the working dir.
    pub folder: &'a Path,
    /// The `build.dockerfile` (or `dockerFile`) as written.
    pub dockerfile: &'a str,
    /// The `build.context` as written (default: the folder).
    pub context: Option<&'a str>,
    /// Build arguments and target.
    pub args: &'a [(String, String)],
    pub target: Option<&'a str>,
    /// Whether a base image may be used.
    pub base_allowed: &'a dyn Fn(&str) -> bool,
    /// The session's limits, when the host can apply them.
    pub limits: Option<Limits>,
}

/// Checks a build and prepares it; `Err` says why it is refused.
pub(crate) fn plan(i: &BuildInputs<'_>) -> Result<ImageBuild, String> {
    let dockerfile_path = i.folder.join(i.dockerfile);
    let dockerfile_rel = dockerfile_path.to_string_lossy().into_owned();
    let bytes = crate::untrusted_dir::read_beneath(i.working_dir, &dockerfile_rel, MAX_DOCKERFILE_BYTES)
        .map_err(|e| format!("the Dockerfile {dockerfile_rel} must be a file inside the working dir: {e}"))?;
    let dockerfile =
        String::from_utf8(bytes).map_err(|_| format!("the Dockerfile {dockerfile_rel} is not UTF-8 text"))?;
    check_dockerfile(&dockerfile, i.base_allowed)?;
    let context_rel = i.folder.join(i.context.unwrap_or("."));
    let context = std::fs::canonicalize(i.working_dir.join(&context_rel))
        .map_err(|e| format!("the build context {} cannot be used: {e}", context_rel.display()))?;
    if !context.starts_with(i.working_dir) || !context.is_dir() {
        return Err(format!(
            "the build context {} is {}, not a directory inside the working dir: COPY could read any file there",
            context_rel.display(),
            context.display()
        ));
    }
    for (k, v) in i.args {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(format!("the build argument {k:?} is not a NAME=value pair"));
        }
    }
    if let Some(t) = i.target
        && (t.is_empty() || t.starts_with('-') || t.chars().any(char::is_whitespace))
    {
        return Err(format!("the build target {t:?} is not a stage name"));
    }
    let context = context.to_str().ok_or("the build context's path is not UTF-8")?.to_string();
    let mut h = Sha256::new();
    for part in [context.as_str(), &dockerfile, i.target.unwrap_or_default()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in i.args {
        h.update(format!("{k}={v}\0").as_bytes());
    }
    let digest: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(ImageBuild {
        tag: format!("{BUILT_IMAGE_PREFIX}{digest}:latest"),
        context,
        dockerfile_path: dockerfile_rel,
        dockerfile,
        args: i.args.to_vec(),
        target: i.target.map(String::from),
        limits: i.limits,
        working_dir: i.working_dir.to_string_lossy().into_owned(),
    })
}

/// The words of one line, without quotes.
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string()).collect()
}

/// Whether a line is continued on the next (with either escape character a Dockerfile
/// may choose).
fn continued(line: &str) -> bool {
    let t = line.trim_end();
    t.ends_with('\\') || t.ends_with('`')
}

/// Checks the Dockerfile's base images and steps (see the module's documentation).
pub(crate) fn check_dockerfile(text: &str, base_allowed: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut stages: Vec<String> = Vec::new();
    let known_base = |image: &str, stages: &[String]| -> Result<(), String> {
        if image.contains('$') {
            return Err(format!("the base image {image:?} depends on a build argument: it cannot be checked"));
        }
        if image.eq_ignore_ascii_case("scratch")
            || stages.iter().any(|s| s.eq_ignore_ascii_case(image))
            || image.parse::<usize>().is_ok_and(|n| n < stages.len())
        {
            return Ok(());
        }
        if base_allowed(image) {
            Ok(())
        } else {
            Err(format!(
                "the base image {image} is not trusted (add it to trusted_images, exactly as the Dockerfile names it, or allow untrusted images)"
            ))
        }
    };
    for (n, line) in lines.iter().enumerate() {
        let lineno = n + 1;
        let lower = line.to_ascii_lowercase();
        // Anywhere in the file, since a step's flags may sit on a continuation line.
        for flag in ["--mount", "--network", "--security"] {
            if lower.contains(flag) {
                return Err(format!("line {lineno}: {flag} gives a build step more than the build (refused)"));
            }
        }
        let mut from_at = 0;
        while let Some(i) = lower[from_at..].find("--from") {
            let at = from_at + i + "--from".len();
            let Some(rest) = line[at..].strip_prefix('=') else {
                return Err(format!("line {lineno}: --from without = cannot be checked"));
            };
            let image: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            known_base(image.trim_matches(|c| c == '"' || c == '\''), &stages)
                .map_err(|e| format!("line {lineno}: COPY --from: {e}"))?;
            from_at = at;
        }
        let mut w = words(line);
        if w.first().is_some_and(|x| x.eq_ignore_ascii_case("onbuild")) {
            w.remove(0);
        }
        let Some(instruction) = w.first().map(|x| x.to_ascii_uppercase()) else { continue };
        match instruction.as_str() {
            "FROM" => {
                if continued(line) {
                    return Err(format!("line {lineno}: a FROM continued on the next line cannot be checked"));
                }
                let mut rest = w[1..].iter().filter(|x| !x.starts_with("--"));
                let Some(image) = rest.next() else {
                    return Err(format!("line {lineno}: FROM names no image"));
                };
                known_base(image, &stages).map_err(|e| format!("line {lineno}: {e}"))?;
                if rest.next().is_some_and(|a| a.eq_ignore_ascii_case("as"))
                    && let Some(name) = rest.next()
                {
                    stages.push(name.clone());
                } else {
                    stages.push(String::new());
                }
            }
            "ADD" => {
                // The step and its continuation lines.
                let mut text = line.to_string();
                let mut k = n;
                while continued(lines[k]) && k + 1 < lines.len() {
                    k += 1;
                    text.push(' ');
                    text.push_str(lines[k]);
                }
                if text.contains("://") || text.contains("git@") {
                    return Err(format!(
                        "line {lineno}: ADD of a URL or a git repository is fetched by podman on the host, with the host's network (refused)"
                    ));
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return Err("the Dockerfile has no FROM".into());
    }
    Ok(())
}

/// The `podman` arguments that run `build` (its Dockerfile is fed on stdin).
pub fn build_args(build: &ImageBuild, host: &HostInfo) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    if let Some(rt) = &host.runtime_override {
        push(&["--runtime", rt]);
    }
    push(&["build", "--pull=never", "--network=none", "--layers=false", "--rm", "--force-rm"]);
    push(&["--cap-drop=all", &format!("--cap-add={}", CAP_ADD.join(","))]);
    if let Some(u) = host.ulimits {
        push(&["--ulimit", &format!("nofile={0}:{0}", u.nofile), "--ulimit", &format!("nproc={0}:{0}", u.nproc)]);
    }
    if let Some(l) = &build.limits {
        let mem = l.memory_bytes.to_string();
        let quota = ((l.cpus * 100_000.0).round() as u64).max(1000).to_string();
        push(&["--memory", &mem, "--memory-swap", &mem, "--cpu-period", "100000", "--cpu-quota", &quota]);
    }
    push(&["--label", &format!("{BUILT_FOR_LABEL}={}", build.working_dir)]);
    for (k, v) in &build.args {
        push(&["--build-arg", &format!("{k}={v}")]);
    }
    if let Some(t) = &build.target {
        push(&["--target", t]);
    }
    push(&["--tag", &build.tag, "--file", "-", "--", &build.context]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_info::CgroupMode;

    fn trusted(image: &str) -> bool {
        image == "localhost/sandbox-busybox:latest"
    }

    #[test]
    fn dockerfiles_from_trusted_bases_pass() {
        for ok in [
            "FROM localhost/sandbox-busybox:latest\nRUN echo hi > /x\n",
            "# syntax comment\nfrom localhost/sandbox-busybox:latest AS base\nFROM base\nCOPY --from=base /x /y\nCOPY --from=0 /x /z\n",
            "FROM --platform=linux/amd64 localhost/sandbox-busybox:latest\nADD local.tar /\nRUN echo \\\n  continued\n",
            "FROM scratch\nCOPY x /x\n",
        ] {
            check_dockerfile(ok, &trusted).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
    }

    #[test]
    fn dockerfiles_that_reach_past_the_build_are_refused() {
        let cases = [
            ("FROM docker.io/library/alpine:3.20\n", "not trusted"),
            ("FROM localhost/sandbox-busybox\n", "not trusted"),
            ("ARG BASE=localhost/sandbox-busybox:latest\nFROM ${BASE}\n", "build argument"),
            ("FROM $BASE\n", "build argument"),
            ("FROM \\\n  docker.io/library/alpine\n", "continued"),
            ("FROM localhost/sandbox-busybox:latest\nCOPY --from=docker.io/library/alpine / /a\n", "COPY --from"),
            ("FROM localhost/sandbox-busybox:latest\nCOPY --from evil / /a\n", "without ="),
            ("FROM localhost/sandbox-busybox:latest\nADD http://127.0.0.1:8080/secret /s\n", "ADD of a URL"),
            ("FROM localhost/sandbox-busybox:latest\nADD \\\n https://example.invalid/x /x\n", "ADD of a URL"),
            ("FROM localhost/sandbox-busybox:latest\nadd git@github.com:o/r.git /r\n", "ADD of a URL"),
            ("FROM localhost/sandbox-busybox:latest\nONBUILD ADD http://x/y /y\n", "ADD of a URL"),
            (
                "FROM localhost/sandbox-busybox:latest\nRUN --mount=type=bind,source=/,target=/h cat /h/etc/shadow\n",
                "--mount",
            ),
            ("FROM localhost/sandbox-busybox:latest\nRUN \\\n  --mount=type=cache,target=/c true\n", "--mount"),
            ("FROM localhost/sandbox-busybox:latest\nRUN --network=host wget http://127.0.0.1\n", "--network"),
            ("FROM localhost/sandbox-busybox:latest\nRUN --security=insecure true\n", "--security"),
            ("RUN true\n", "no FROM"),
            ("", "no FROM"),
        ];
        for (text, words) in cases {
            let e = check_dockerfile(text, &trusted).expect_err(text);
            assert!(e.contains(words), "{text:?}: {e}");
        }
    }

    fn host(rootless: bool) -> HostInfo {
        HostInfo {
            podman: "podman".into(),
            version: "4.3.1".into(),
            rootless,
            cgroup_mode: CgroupMode::Hybrid,
            cgroup_controllers: vec![],
            default_runtime: "crun".into(),
            runtime_override: (!rootless).then(|| "runc".into()),
            ulimits: (!rootless).then_some(crate::host_info::Ulimits { nofile: 20000, nproc: 9000 }),
            limits_enforceable: !rootless,
            limits_reason: None,
            unprivileged_port_start: 1024,
            uid: 0,
            cpus: 2,
            engine_dirs: Vec::new(),
        }
    }

    #[test]
    fn the_build_runs_hardened() {
        let b = ImageBuild {
            tag: format!("{BUILT_IMAGE_PREFIX}0123:latest"),
            context: "/w/ctx".into(),
            dockerfile_path: ".devcontainer/Dockerfile".into(),
            dockerfile: "FROM x\n".into(),
            args: vec![("V".into(), "1 2".into())],
            target: Some("dev".into()),
            limits: Some(Limits::default()),
            working_dir: "/w".into(),
        };
        for h in [host(false), host(true)] {
            let a = build_args(&b, &h);
            let has = |x: &str| a.iter().any(|y| y == x);
            let pair = |k: &str, v: &str| a.windows(2).any(|w| w[0] == k && w[1] == v);
            for must in ["--pull=never", "--network=none", "--cap-drop=all", "--layers=false"] {
                assert!(has(must), "{must}: {a:?}");
            }
            assert!(has(&format!("--cap-add={}", CAP_ADD.join(","))), "{a:?}");
            assert!(pair("--build-arg", "V=1 2") && pair("--target", "dev") && pair("--tag", &b.tag));
            assert!(pair("--memory", &(2u64 << 30).to_string()) && pair("--cpu-quota", "200000"));
            assert_eq!(&a[a.len() - 4..], ["--file", "-", "--", "/w/ctx"], "the checked text on stdin");
            assert!(!a.iter().any(|x| x.contains("privileged") || x.starts_with("--volume") || x == "-v"));
            assert_eq!(a.iter().position(|x| x == "build").unwrap(), if h.rootless { 0 } else { 2 });
        }
    }

    #[test]
    fn files_outside_the_working_dir_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path().join("w");
        std::fs::create_dir_all(w.join(".devcontainer")).unwrap();
        std::fs::write(t.path().join("Dockerfile"), "FROM localhost/sandbox-busybox:latest\n").unwrap();
        std::fs::write(w.join(".devcontainer/Dockerfile"), "FROM localhost/sandbox-busybox:latest\n").unwrap();
        std::os::unix::fs::symlink(t.path(), w.join("up")).unwrap();
        let w = std::fs::canonicalize(&w).unwrap();
        let inputs = |dockerfile, context| BuildInputs {
            working_dir: &w,
            folder: Path::new(".devcontainer"),
            dockerfile,
            context,
            args: &[],
            target: None,
            base_allowed: &trusted,
            limits: None,
        };
        let b = plan(&inputs("Dockerfile", None)).unwrap();
        assert_eq!(b.context, w.join(".devcontainer").to_str().unwrap());
        assert!(b.tag.starts_with(BUILT_IMAGE_PREFIX));
        assert_eq!(plan(&inputs("Dockerfile", Some(".."))).unwrap().context, w.to_str().unwrap());
        for (dockerfile, context, words) in [
            ("../../Dockerfile", None, "inside the working dir"),
            ("/etc/passwd", None, "inside the working dir"),
            ("../up/Dockerfile", None, "inside the working dir"),
            ("Dockerfile", Some("../.."), "not a directory inside the working dir"),
            ("Dockerfile", Some("/"), "not a directory inside the working dir"),
            ("Dockerfile", Some("../up"), "not a directory inside the working dir"),
            ("Dockerfile", Some("Dockerfile"), "not a directory inside the working dir"),
        ] {
            let e = plan(&inputs(dockerfile, context)).expect_err(dockerfile);
            assert!(e.contains(words), "{dockerfile} {context:?}: {e}");
        }
    }
}

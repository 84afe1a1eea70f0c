//! `runArgs` of a `devcontainer.json`: extra `docker run` arguments, which a project
//! could use to undo a session's hardening. Only an allow-list is applied (environment,
//! lower limits, `--network none`, published ports); a few harmless ones are accepted as
//! no-ops; everything else is refused, with the reason for the options that would
//! weaken the session. The arguments are split into options here, with the value each
//! takes (so a refused option's value is refused with it, never read as an option).

/// What one option asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunArg {
    /// `-e` / `--env`: `KEY=VALUE`, or `KEY` (the host's value).
    Env(String),
    /// `-m` / `--memory`.
    Memory(String),
    /// `--cpus`.
    Cpus(String),
    /// `--pids-limit`.
    PidsLimit(String),
    /// `--network` / `--net`.
    Network(String),
    /// `-p` / `--publish`.
    Publish(String),
    /// Harmless, and without effect in a session: why.
    NoOp(&'static str),
    /// Refused: why.
    Refused(String),
}

/// One option as written, and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedArg {
    /// The option and its value, as written (`--cap-add SYS_ADMIN`).
    pub text: String,
    /// What it asks for.
    pub arg: RunArg,
}

/// The options this applies, for messages.
pub(crate) const ALLOWED: &str =
    "-e/--env, -m/--memory and --cpus and --pids-limit (lower than the session's), --network none, -p/--publish";

/// Long options of `podman run` / `docker run` that take a value.
const TAKES_VALUE: &[&str] = &[
    "add-host",
    "annotation",
    "arch",
    "attach",
    "authfile",
    "blkio-weight",
    "blkio-weight-device",
    "cap-add",
    "cap-drop",
    "cgroup-conf",
    "cgroup-parent",
    "cgroupns",
    "cgroups",
    "chrootdirs",
    "cidfile",
    "conmon-pidfile",
    "cpu-count",
    "cpu-percent",
    "cpu-period",
    "cpu-quota",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpu-shares",
    "cpus",
    "cpuset-cpus",
    "cpuset-mems",
    "detach-keys",
    "device",
    "device-cgroup-rule",
    "device-read-bps",
    "device-read-iops",
    "device-write-bps",
    "device-write-iops",
    "dns",
    "dns-opt",
    "dns-option",
    "dns-search",
    "domainname",
    "entrypoint",
    "env",
    "env-file",
    "env-merge",
    "expose",
    "gidmap",
    "gpus",
    "group-add",
    "health-cmd",
    "health-interval",
    "health-on-failure",
    "health-retries",
    "health-start-period",
    "health-timeout",
    "hostname",
    "hostuser",
    "image-volume",
    "init-path",
    "io-maxbandwidth",
    "io-maxiops",
    "ip",
    "ip6",
    "ipc",
    "isolation",
    "kernel-memory",
    "label",
    "label-file",
    "link",
    "link-local-ip",
    "log-driver",
    "log-opt",
    "mac-address",
    "memory",
    "memory-reservation",
    "memory-swap",
    "memory-swappiness",
    "mount",
    "name",
    "net",
    "net-alias",
    "network",
    "network-alias",
    "oom-score-adj",
    "os",
    "passwd-entry",
    "personality",
    "pid",
    "pidfile",
    "pids-limit",
    "platform",
    "pod",
    "pod-id-file",
    "preserve-fds",
    "publish",
    "pull",
    "requires",
    "restart",
    "runtime",
    "sdnotify",
    "seccomp-policy",
    "secret",
    "security-opt",
    "shm-size",
    "shm-size-systemd",
    "stop-signal",
    "stop-timeout",
    "storage-opt",
    "subgidname",
    "subuidname",
    "sysctl",
    "systemd",
    "timeout",
    "tmpfs",
    "tz",
    "uidmap",
    "ulimit",
    "umask",
    "unsetenv",
    "user",
    "userns",
    "uts",
    "variant",
    "volume",
    "volume-driver",
    "volumes-from",
    "workdir",
];

/// Short options and their long names; `true` when they take a value.
const SHORT: &[(char, &str, bool)] = &[
    ('a', "attach", true),
    ('c', "cpu-shares", true),
    ('d', "detach", false),
    ('e', "env", true),
    ('h', "hostname", true),
    ('i', "interactive", false),
    ('l', "label", true),
    ('m', "memory", true),
    ('p', "publish", true),
    ('P', "publish-all", false),
    ('q', "quiet", false),
    ('t', "tty", false),
    ('u', "user", true),
    ('v', "volume", true),
    ('w', "workdir", true),
];

/// Why an option that would weaken the session is refused.
fn weakens(name: &str) -> Option<&'static str> {
    Some(match name {
        "privileged" => "it gives the container every capability and the host's devices",
        "cap-add" => "it adds capabilities to the session's fixed, minimal set",
        "security-opt" => "it changes seccomp, AppArmor, SELinux or no-new-privileges",
        "device" | "device-cgroup-rule" | "gpus" => "it gives the container host devices",
        "volume" | "mount" | "tmpfs" | "volumes-from" | "image-volume" => {
            "it mounts more than the working dir (sessions mount nothing the caller did not choose)"
        }
        "pid" | "ipc" | "uts" | "userns" | "cgroupns" | "cgroups" | "cgroup-parent" | "cgroup-conf" => {
            "it changes the session's namespaces or cgroups (it could share the host's)"
        }
        "uidmap" | "gidmap" | "subuidname" | "subgidname" | "user" | "group-add" | "hostuser" | "passwd-entry" => {
            "it changes the session's one user (container root is the working dir's owner)"
        }
        "sysctl" | "ulimit" | "oom-kill-disable" | "oom-score-adj" | "memory-swap" | "shm-size" | "kernel-memory" => {
            "it changes kernel settings or limits the caller's policy sets"
        }
        "runtime" | "init-path" | "entrypoint" | "rootfs" | "seccomp-policy" | "personality" | "systemd" => {
            "it changes what runs the session (the agent is its main process)"
        }
        "env-file" | "label-file" | "secret" | "env-host" | "http-proxy" | "preserve-fds" | "authfile" => {
            "it passes the host's files, variables or descriptors into the session"
        }
        "cidfile" | "conmon-pidfile" | "pidfile" | "pod-id-file" | "log-driver" | "log-opt" => {
            "it makes podman write files on the host"
        }
        "label" => "labels are the sandbox's own (sessions are listed and removed by them)",
        "name" | "pod" | "replace" | "requires" | "restart" => {
            "it changes how the sandbox names or manages the container"
        }
        "add-host" | "dns" | "dns-opt" | "dns-option" | "dns-search" | "ip" | "ip6" | "mac-address" | "link" => {
            "it changes the session's network setup"
        }
        "publish-all" => "it publishes every exposed port on every host address",
        _ => return None,
    })
}

/// Why a harmless option has no effect in a session.
fn no_op(name: &str) -> Option<&'static str> {
    Some(match name {
        "init" => "sessions always run with --init",
        "rm" => "sessions are removed when they stop",
        "interactive" | "tty" | "detach" | "attach" | "detach-keys" | "sig-proxy" | "quiet" => {
            "sessions run detached; commands get their input and terminals through the agent"
        }
        "cap-drop" | "read-only" | "read-only-tmpfs" => "sessions have a fixed set of capabilities and mounts",
        "hostname" | "domainname" | "expose" | "stop-signal" | "stop-timeout" | "pull" | "tz" | "umask" => {
            "sessions do not set it"
        }
        _ => return None,
    })
}

/// What option `name` (long form) with `value` asks for.
fn classify(name: &str, value: Option<&str>) -> RunArg {
    let v = || value.unwrap_or_default().to_string();
    match name {
        "env" => RunArg::Env(v()),
        "memory" => RunArg::Memory(v()),
        "cpus" => RunArg::Cpus(v()),
        "pids-limit" => RunArg::PidsLimit(v()),
        "network" | "net" => RunArg::Network(v()),
        "publish" => RunArg::Publish(v()),
        _ => match (weakens(name), no_op(name)) {
            (Some(why), _) => RunArg::Refused(why.to_string()),
            (None, Some(why)) => RunArg::NoOp(why),
            (None, None) => RunArg::Refused(format!("it is not on the allow-list ({ALLOWED})")),
        },
    }
}

/// Splits `args` into options. An element that is not an option where one is expected
/// is refused on its own.
pub(crate) fn parse(args: &[String]) -> Vec<ParsedArg> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--").filter(|l| !l.is_empty()) {
            let (name, mut value) = match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            };
            let mut text = a.clone();
            // A value in the next element: for options known to take one, and for
            // unknown options followed by something that is not an option.
            let known = TAKES_VALUE.contains(&name.as_str());
            let unknown = !known && weakens(&name).is_none() && no_op(&name).is_none();
            if value.is_none() && (known || unknown) && i < args.len() && (known || !args[i].starts_with('-')) {
                value = Some(args[i].clone());
                text = format!("{a} {}", args[i]);
                i += 1;
            }
            out.push(ParsedArg { text, arg: classify(&name, value.as_deref()) });
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty() && !s.starts_with('-')) {
            let chars: Vec<char> = shorts.chars().collect();
            for (k, c) in chars.iter().enumerate() {
                let Some(&(_, name, takes)) = SHORT.iter().find(|(s, _, _)| s == c) else {
                    out.push(ParsedArg {
                        text: format!("-{c}"),
                        arg: RunArg::Refused(format!("-{c} is not on the allow-list ({ALLOWED})")),
                    });
                    continue;
                };
                if takes {
                    let attached: String = chars[k + 1..].iter().collect();
                    let (value, text) = if !attached.is_empty() {
                        (Some(attached.clone()), format!("-{c}{attached}"))
                    } else if i < args.len() {
                        i += 1;
                        (Some(args[i - 1].clone()), format!("-{c} {}", args[i - 1]))
                    } else {
                        (None, format!("-{c}"))
                    };
                    out.push(ParsedArg { text, arg: classify(name, value.as_deref()) });
                    break;
                }
                out.push(ParsedArg { text: format!("-{c}"), arg: classify(name, None) });
            }
        } else {
            out.push(ParsedArg {
                text: a.clone(),
                arg: RunArg::Refused("it is not an option (runArgs holds options of docker run only)".into()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Vec<(String, RunArg)> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).into_iter().map(|p| (p.text, p.arg)).collect()
    }

    fn refused(args: &[&str]) -> bool {
        parsed(args).iter().all(|(_, a)| matches!(a, RunArg::Refused(_)))
    }

    #[test]
    fn allowed_options_in_every_spelling() {
        assert_eq!(
            parsed(&["-e", "A=1", "--env=B=2", "--env", "C", "-eD=4", "--memory=1g", "-m", "512m", "--cpus", "1"]),
            vec![
                ("-e A=1".into(), RunArg::Env("A=1".into())),
                ("--env=B=2".into(), RunArg::Env("B=2".into())),
                ("--env C".into(), RunArg::Env("C".into())),
                ("-eD=4".into(), RunArg::Env("D=4".into())),
                ("--memory=1g".into(), RunArg::Memory("1g".into())),
                ("-m 512m".into(), RunArg::Memory("512m".into())),
                ("--cpus 1".into(), RunArg::Cpus("1".into())),
            ]
        );
        assert_eq!(
            parsed(&["--pids-limit=64", "--network", "none", "--net=none", "-p", "3000:3000", "--publish=4000"]),
            vec![
                ("--pids-limit=64".into(), RunArg::PidsLimit("64".into())),
                ("--network none".into(), RunArg::Network("none".into())),
                ("--net=none".into(), RunArg::Network("none".into())),
                ("-p 3000:3000".into(), RunArg::Publish("3000:3000".into())),
                ("--publish=4000".into(), RunArg::Publish("4000".into())),
            ]
        );
    }

    #[test]
    fn harmless_options_are_no_ops() {
        for args in [&["--init"][..], &["--rm"], &["-it"], &["--cap-drop=ALL"], &["--hostname", "dev"]] {
            let p = parsed(args);
            assert!(p.iter().all(|(_, a)| matches!(a, RunArg::NoOp(_))), "{args:?}: {p:?}");
        }
        assert_eq!(parsed(&["-it"]).len(), 2, "combined short flags are split");
    }

    /// Every option that could weaken the session, in the spellings docker accepts,
    /// is refused, and its value with it (never read as an option of its own).
    #[test]
    fn options_that_weaken_the_session_are_refused_with_their_values() {
        let cases: &[&[&str]] = &[
            &["--privileged"],
            &["--cap-add", "SYS_ADMIN"],
            &["--cap-add=ALL"],
            &["--security-opt", "seccomp=unconfined"],
            &["--security-opt=apparmor=unconfined"],
            &["--device", "/dev/kvm"],
            &["--device=/dev/mem"],
            &["-v", "/:/host"],
            &["-v/:/host"],
            &["--volume=/etc:/etc"],
            &["--mount", "type=bind,src=/,dst=/host"],
            &["--tmpfs", "/x"],
            &["--volumes-from", "other"],
            &["--pid=host"],
            &["--pid", "host"],
            &["--ipc=host"],
            &["--uts=host"],
            &["--userns=host"],
            &["--cgroupns=host"],
            &["--cgroup-parent=/"],
            &["--uidmap", "0:0:65536"],
            &["--user", "1000"],
            &["-u", "0"],
            &["--group-add", "disk"],
            &["--sysctl", "net.ipv4.ip_forward=1"],
            &["--ulimit", "nproc=-1"],
            &["--oom-kill-disable"],
            &["--runtime", "/tmp/evil"],
            &["--entrypoint", "/bin/sh"],
            &["--env-file", "/etc/shadow"],
            &["--label", "sandbox.scope=other"],
            &["-l", "sandbox.managed=false"],
            &["--name", "other-session"],
            &["--secret", "id"],
            &["--pidfile", "/etc/cron.d/x"],
            &["--log-driver=k8s-file", "--log-opt=path=/etc/x"],
            &["--add-host", "example.com:127.0.0.1"],
            &["--dns", "10.0.0.1"],
            &["-P"],
            &["--publish-all"],
            &["--shm-size", "64g"],
            &["--memory-swap", "-1"],
            &["-w", "/"],
            &["--made-up-option", "value"],
            &["--made-up-flag"],
            &["-Z"],
            &["stray-positional"],
        ];
        for args in cases {
            let p = parsed(args);
            assert!(refused(args), "{args:?}: {p:?}");
            let texts: String = p.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" ");
            assert_eq!(texts, args.join(" "), "{args:?}: the value goes with its option");
        }
    }

    #[test]
    fn a_refused_option_does_not_swallow_the_next_one() {
        let p = parsed(&["--made-up-flag", "-e", "A=1", "--privileged", "--env", "B=2"]);
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!(p[1].1, RunArg::Env("A=1".into()));
        assert_eq!(p[3].1, RunArg::Env("B=2".into()));
    }
}

//! What [`Sandbox::start`](crate::Sandbox::start) actually did. Everything the original
//! component only logged (image replaced, ports dropped, limits skipped, provisioning and
//! post-create failures) is data here, so callers can show it.

use std::time::Duration;

use serde::Serialize;

use crate::devcontainer_report::DevcontainerReport;
use crate::policy::{Limits, Network};

/// Why this image was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageReason {
    /// None was requested; the default image was used.
    Default,
    /// The requested image is trusted.
    Trusted,
    /// The requested image is untrusted and the policy allowed it.
    UntrustedAllowed,
    /// The requested image is untrusted and was replaced by the default.
    UntrustedReplaced,
    /// Built from the working dir's `devcontainer.json` (allowed by `allow_build`, from
    /// trusted base images only).
    Built,
    /// The image of the snapshot the session started from (made by this library from a
    /// session's container).
    Snapshot,
}

/// Where a session started from a snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotStart {
    /// The snapshot's name.
    pub name: String,
    /// How its working dir was copied to the session's.
    pub copy: crate::snapshot::CopyMethod,
}

/// The image decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChoice {
    /// What the caller asked for.
    pub requested: Option<String>,
    /// What the container runs.
    pub used: String,
    /// Why.
    pub reason: ImageReason,
}

/// A requested port that is not published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedPort {
    /// The port.
    pub port: u16,
    /// Why it was dropped.
    pub reason: String,
}

/// The egress policy a session started with (see
/// [`Network::Egress`](crate::Network::Egress)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressReport {
    /// The allow rules, as normalized text (empty: nothing is reachable).
    pub rules: Vec<String>,
    /// The names pinned to addresses.
    pub pinned: Vec<String>,
    /// The proxy the session's processes use (`HTTP_PROXY` and friends are set to it).
    pub proxy: String,
    /// The host process that enforces the policy.
    pub enforcer_pid: u32,
    /// The ports forwarded from the host's 127.0.0.1 to the same port inside (the same
    /// list as `ports_published`: an egress session has no interface to publish on).
    pub forwarded_ports: Vec<u16>,
}

/// Whether the limits are in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitsOutcome {
    /// The container runs with the limits applied.
    pub enforced: bool,
    /// The limits that were asked for.
    pub requested: Limits,
    /// Why they are not enforced, when they are not.
    pub reason: Option<String>,
    /// When the pids limit cannot be enforced, the RLIMIT_NPROC set instead (a fork
    /// bomb still stops; the count is per user, shared with the user's other sessions).
    pub nproc_fallback: Option<u64>,
}

/// What happened to dev-essentials provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Provisioning {
    /// Turned off by configuration.
    Disabled,
    /// Not attempted, with the reason (no package manager, no network).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Packages installed with this package manager.
    Installed {
        /// `apk` or `apt-get`.
        manager: String,
    },
    /// The install failed (the session still started).
    Failed {
        /// Exit code of the install, if it exited.
        exit_code: Option<i32>,
        /// Whether it hit the provisioning timeout.
        timed_out: bool,
        /// The last part of its output.
        output_tail: String,
    },
}

/// The outcome of one post-create command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostCreateOutcome {
    /// The command as given.
    pub command: String,
    /// False when the policy did not allow it to run.
    pub ran: bool,
    /// Exit code, when it ran and exited.
    pub exit_code: Option<i32>,
    /// Signal, when it was killed.
    pub signal: Option<i32>,
    /// Whether it hit the post-create timeout.
    pub timed_out: bool,
    /// The last part of its output (stdout and stderr interleaved).
    pub output_tail: String,
    /// How long it ran.
    #[serde(serialize_with = "crate::duration_secs::serialize")]
    pub duration: Duration,
}

impl PostCreateOutcome {
    /// It ran and exited 0.
    pub fn succeeded(&self) -> bool {
        self.ran && self.exit_code == Some(0) && !self.timed_out
    }
}

/// Report of one session start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartReport {
    /// The session id.
    pub session_id: String,
    /// The container name.
    pub container: String,
    /// The mounted working dir (symlinks resolved).
    pub working_dir: String,
    /// Image decision.
    pub image: ImageChoice,
    /// Network mode.
    pub network: Network,
    /// Ports published on 127.0.0.1.
    pub ports_published: Vec<u16>,
    /// Ports asked for but not published, with reasons.
    pub ports_dropped: Vec<DroppedPort>,
    /// Limits outcome.
    pub limits: LimitsOutcome,
    /// Paths of the working dir mounted read-only (workspace protection).
    pub protected_paths: Vec<String>,
    /// Whether the network isolation rules are in place (bridge network with
    /// `isolate_network`): no connection to this host's addresses, its containers or
    /// link-local addresses, none in but through published ports.
    pub network_isolated: bool,
    /// The egress policy in force, for a session on the `egress` network.
    pub egress: Option<EgressReport>,
    /// The host uid the session's only user (container root) is: files the session
    /// creates in the working dir are owned by it.
    pub host_uid: u32,
    /// Provisioning outcome.
    pub provisioning: Provisioning,
    /// One entry per post-create command, in order (those of a `devcontainer.json`
    /// first).
    pub post_create: Vec<PostCreateOutcome>,
    /// What the start did with the working dir's `devcontainer.json`, when it read one.
    pub devcontainer: Option<DevcontainerReport>,
    /// The snapshot the session started from, and how its working dir was copied.
    pub snapshot: Option<SnapshotStart>,
    /// Every warning, in plain words.
    pub warnings: Vec<String>,
    /// Total time of the start.
    #[serde(serialize_with = "crate::duration_secs::serialize")]
    pub duration: Duration,
}

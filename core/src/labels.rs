//! Label keys on session containers. Listing and reaping go by these labels, never by
//! name prefix alone, so a container sandbox did not create is never touched.

/// `true` on every container sandbox created.
pub const MANAGED: &str = "sandbox.managed";
/// The session id.
pub const SESSION: &str = "sandbox.session";
/// The uid that created it.
pub const OWNER: &str = "sandbox.owner";
/// The mounted working dir.
pub const WORKDIR: &str = "sandbox.workdir";
/// The host control dir.
pub const CONTROL: &str = "sandbox.control";
/// The sandbox-core version that created it.
pub const VERSION: &str = "sandbox.version";
/// Published ports, comma-separated.
pub const PORTS: &str = "sandbox.ports";
/// The [`Config::scope`](crate::Config::scope) it belongs to.
pub const SCOPE: &str = "sandbox.scope";
/// Host path of the agent binary mounted into the container: the host checks that the
/// process behind the agent socket runs this very file.
pub const AGENT: &str = "sandbox.agent";

/// The snapshot the session started from (empty when none).
pub const FROM_SNAPSHOT: &str = "sandbox.snapshot.from";

/// Every label a session container carries.
pub const ALL: [&str; 10] = [MANAGED, SESSION, OWNER, WORKDIR, CONTROL, VERSION, PORTS, SCOPE, AGENT, FROM_SNAPSHOT];

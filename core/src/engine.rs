//! The container engine behind sessions. Sessions only talk to this trait, so a docker,
//! remote-podman or Kubernetes backend can be added without touching them;
//! [`crate::PodmanEngine`] is the implementation used today.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::host_info::HostInfo;
use crate::run_args::RunPlan;

/// A boxed, sendable future (the trait is used as `dyn Engine`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A container as the engine lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    /// Engine id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Engine state word (`running`, `exited`, `created`...).
    pub state: String,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
    /// All labels.
    pub labels: HashMap<String, String>,
}

/// The live state of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// Engine state word.
    pub status: String,
    /// Whether it is running.
    pub running: bool,
    /// Exit code once it exited.
    pub exit_code: Option<i32>,
    /// Killed by the kernel for exceeding its memory limit.
    pub oom_killed: bool,
    /// The engine's error text, if any.
    pub error: String,
    /// Host pid of the container's first process while it runs.
    pub pid: Option<u32>,
}

/// Why a container could not be created.
#[derive(Debug)]
pub enum CreateFailure {
    /// The engine refused; its stderr says why (port conflict, cgroups, name in use...).
    Refused {
        /// Engine exit status.
        code: Option<i32>,
        /// Engine stderr.
        stderr: String,
    },
    /// We could not ask (engine missing, I/O).
    Failed(crate::Error),
}

/// What an image gives the containers made from it, or what a container was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Its environment, `KEY=value` each.
    pub env: Vec<String>,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// For a container: the id of the image it was made from; in
    /// [`list_images`](Engine::list_images): the image's own id.
    pub image: Option<String>,
    /// For a container on an overlay storage driver: the host dir of its own
    /// filesystem changes (the overlay's upper layer).
    pub upper_dir: Option<std::path::PathBuf>,
}

/// Operations sessions need from a container engine.
pub trait Engine: Send + Sync {
    /// The host facts, probed on first use and cached.
    fn host(&self) -> BoxFuture<'_, Result<HostInfo>>;
    /// Creates and starts a container as planned.
    fn create(&self, plan: &RunPlan) -> BoxFuture<'_, std::result::Result<(), CreateFailure>>;
    /// Lists containers carrying `label=value` (running or not).
    fn list<'a>(&'a self, label: &'a str, value: &'a str) -> BoxFuture<'a, Result<Vec<ContainerRecord>>>;
    /// The state of container `name`, `None` when it does not exist.
    fn state<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ContainerState>>>;
    /// Removes container `name` at once (killing it); `false` when it did not exist.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Removes container `name` at once (killing it) if it is the one made for the
    /// session whose control dir is `control_dir` (its `sandbox.control` label; a
    /// container of that name made by anyone else is left alone), blocking until done,
    /// best effort: failures are ignored. For cleanup where no async context can be
    /// relied on: a start dropped half-way, even while the engine was still creating the
    /// container, removes it from `Drop`.
    fn remove_now(&self, name: &str, control_dir: &str);
    /// Whether `image` is in local storage.
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// The environment and labels image `image` gives its containers.
    fn image_config<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageConfig>>;
    /// The environment and labels container `name` was made with (its image's and its
    /// own).
    fn container_config<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ImageConfig>>;
    /// Commits the filesystem changes of container `name` (not its bind mounts) into a
    /// new image tagged `tag`, with `changes` (Dockerfile instructions such as `LABEL
    /// k=v`) applied, without pausing it; returns the image's id.
    fn commit<'a>(&'a self, name: &'a str, tag: &'a str, changes: &'a [String]) -> BoxFuture<'a, Result<String>>;
    /// The ids and labels of the images carrying `label=value`.
    fn list_images<'a>(&'a self, label: &'a str, value: &'a str) -> BoxFuture<'a, Result<Vec<ImageConfig>>>;
    /// Removes image `image` (by id or name); `false` when it did not exist. An image
    /// containers still use is not removed: an
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) error naming them.
    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// The last lines the container's main process printed (for diagnostics).
    fn logs_tail<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String>>;
    /// Starts `argv` in running container `name` with its stdin, stdout and stderr piped
    /// to the returned child, which is killed when dropped: one long-lived exec that
    /// carries a stream (the agent's bridge), not a command per call.
    fn exec_piped(&self, name: &str, argv: &[&str]) -> std::io::Result<tokio::process::Child>;
    /// What the session's network isolation must keep out: the host's own addresses and
    /// the networks of its containers.
    fn neighbourhood(&self) -> BoxFuture<'_, Result<crate::network_isolation::Neighbourhood>>;
    /// Installs `rules` (an `iptables-restore` / `ip6tables-restore` input pair) in the
    /// network namespace of the running container created from `plan`, where the
    /// container itself has no capability to change them.
    fn isolate_network<'a>(
        &'a self,
        plan: &'a RunPlan,
        rules: &'a crate::network_isolation::Rules,
    ) -> BoxFuture<'a, Result<()>>;
    /// Builds the image `build` describes (a `devcontainer.json`'s Dockerfile, checked
    /// and allowed), within `limit`; a failure keeps the build's last output.
    fn build_image<'a>(
        &'a self,
        build: &'a crate::image_build::ImageBuild,
        limit: std::time::Duration,
    ) -> BoxFuture<'a, Result<()>>;
}

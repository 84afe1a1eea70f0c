//! `info`, `start`, `list`, `stop`, `reap`.

use sandbox_core::{Config, Error, Limits, Network, Sandbox, SessionInfo, SessionSpec, StartPhase};
use serde_json::{Value, json};

use crate::Done;
use crate::args::{SettingsArgs, StartArgs};
use crate::output::{Out, time, to_json};

/// `sandbox info`.
pub async fn info(sandbox: &Sandbox, out: Out) -> Result<Done, Error> {
    out.record(&to_json(&sandbox.info().await?)?);
    Ok(Done::Ok)
}

/// Limits with what is set of `memory`, `cpus`, `pids` over `base`; `None` when none is.
pub fn limits_over(base: &Limits, memory: Option<u64>, cpus: Option<f64>, pids: Option<u32>) -> Option<Limits> {
    (memory.is_some() || cpus.is_some() || pids.is_some()).then(|| Limits {
        memory_bytes: memory.unwrap_or(base.memory_bytes),
        cpus: cpus.unwrap_or(base.cpus),
        pids: pids.unwrap_or(base.pids),
    })
}

/// Sets on `spec` what `settings` give (limits not given come from `config`).
pub fn apply_settings(spec: &mut SessionSpec, settings: SettingsArgs, config: &Config) -> Result<(), Error> {
    let p = settings;
    if let Some(n) = p.network {
        spec.network = Some(n.parse::<Network>()?);
    }
    spec.egress = crate::network::policy_of(&p.allow_hosts, &p.pin_hosts, &p.credentials, &p.upstream_cas);
    spec.limits = limits_over(&config.policy.limits, p.memory, p.cpus, p.pids);
    if p.require_limits {
        spec.require_resource_limits = Some(true);
    }
    spec.post_create = p.post_create;
    if p.allow_post_create {
        spec.allow_post_create = Some(true);
    }
    Ok(())
}

/// `sandbox start`: prints the session id (the start report with --json); warnings and
/// slow phases on stderr. With --snapshot and no DIR, the session works in a managed copy
/// (`<copy dir>/<id>`), which a note on stderr names.
pub async fn start(sandbox: &Sandbox, a: StartArgs, out: Out) -> Result<Done, Error> {
    let managed = a.dir.is_none() && a.snapshot.is_some();
    let mut spec = match (a.dir, &a.snapshot) {
        (None, Some(name)) => {
            let id = a.id.unwrap_or_else(|| sandbox_core::default_session_id(std::path::Path::new(name)));
            SessionSpec::from_snapshot(id, name)
        }
        (dir, _) => {
            let dir = match dir {
                Some(d) => std::path::absolute(&d).map_err(|e| Error::io(format!("resolving {}", d.display()), e))?,
                None => std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?,
            };
            let id = a.id.unwrap_or_else(|| sandbox_core::default_session_id(&dir));
            SessionSpec::new(id, &dir)
        }
    }
    .ports(a.ports);
    spec.image = a.policy.image;
    spec.env = a.env;
    apply_settings(&mut spec, a.policy.settings, sandbox.config())?;
    if a.allow_untrusted_image {
        spec.allow_untrusted_image = Some(true);
    }
    if a.no_provision {
        spec.provision = Some(false);
    }
    if a.devcontainer {
        spec.devcontainer = Some(true);
    }
    if a.allow_build {
        spec.allow_build = Some(true);
    }
    spec.snapshot = a.snapshot;
    let session = sandbox
        .start_with_progress(spec, move |phase| match phase {
            StartPhase::Provisioning => out.note("sandbox: installing dev tools in the session (provisioning)..."),
            StartPhase::BuildingImage { image } => {
                out.note(&format!("sandbox: building the devcontainer image {image}..."))
            }
            StartPhase::PostCreate { index, command } => {
                out.note(&format!("sandbox: post-create command {}: {command}", index + 1))
            }
            _ => {}
        })
        .await?;
    let report = session.start_report().map(to_json).transpose()?.unwrap_or(Value::Null);
    if let Some(r) = session.start_report() {
        for w in &r.warnings {
            out.note(&format!("warning: {w}"));
        }
    }
    if managed {
        let dir = session.working_dir().display();
        out.note(&format!(
            "sandbox: {} works in {dir}, a managed copy: `sandbox copy remove {dir}` once it is stopped",
            session.id()
        ));
    }
    out.made(session.id(), &report);
    Ok(Done::Ok)
}

/// A session as a row of `list` (and of the MCP server's `session_list`).
pub fn session_row(s: &SessionInfo) -> Value {
    json!({
        "id": s.id,
        "state": s.state,
        "image": s.image,
        "working_dir": s.working_dir,
        "ports": s.ports,
        "created": time(s.created),
        "container": s.container,
        "snapshot": s.snapshot,
    })
}

/// `sandbox list`.
pub async fn list(sandbox: &Sandbox, out: Out) -> Result<Done, Error> {
    let rows: Vec<Value> = sandbox.list().await?.iter().map(session_row).collect();
    out.rows(&rows, &["id", "state", "image", "working_dir", "ports", "created"]);
    Ok(Done::Ok)
}

/// `sandbox stop`: every session named, even when one fails; fails with the first error.
pub async fn stop(sandbox: &Sandbox, ids: &[String], out: Out) -> Result<Done, Error> {
    let mut first = None;
    for id in ids {
        match sandbox.stop(id).await {
            Ok(()) => out.note(&format!("stopped {id}")),
            Err(e) => {
                eprintln!("sandbox: error: {e}");
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(Done::Ok), Err)
}

/// `sandbox pause` (`resume` false) and `sandbox resume`: a row per session (id, paused,
/// changed, processes, took_ms); the first error is the command's, after the others ran.
pub async fn pause(sandbox: &Sandbox, ids: &[String], resume: bool, out: Out) -> Result<Done, Error> {
    let mut rows = Vec::new();
    let mut first = None;
    for id in ids {
        let done = async {
            let s = sandbox.attach(id).await?;
            if resume { s.resume().await } else { s.pause().await }
        };
        match done.await {
            Ok(r) => rows.push(json!({
                "id": id, "paused": r.paused, "changed": r.changed, "method": r.method,
                "processes": r.processes, "took_ms": r.took_us as f64 / 1000.0,
            })),
            Err(e) => {
                eprintln!("sandbox: error: {e}");
                first.get_or_insert(e);
            }
        }
    }
    out.rows(&rows, &["id", "paused", "changed", "processes", "took_ms"]);
    first.map_or(Ok(Done::Ok), Err)
}

/// `sandbox reap`: prints the sessions removed.
pub async fn reap(sandbox: &Sandbox, keep: Option<Vec<String>>, out: Out) -> Result<Done, Error> {
    let removed: Vec<SessionInfo> = match keep {
        Some(keep) => {
            let before = sandbox.list().await?;
            let ids = sandbox.reap_orphans(&keep).await?;
            before.into_iter().filter(|s| ids.contains(&s.id)).collect()
        }
        None => sandbox.reap().await?,
    };
    let rows: Vec<Value> = removed.iter().map(session_row).collect();
    out.rows(&rows, &["id", "state", "working_dir"]);
    Ok(Done::Ok)
}

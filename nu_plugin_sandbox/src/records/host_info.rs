//! The record `sandbox info` returns.

use nu_protocol::{Record, Span, Value};
use sandbox_core::{Config, HostInfo};

use super::opt_string;

/// The engine probe, the image choice and the scope, as one record.
pub(crate) fn host_info(h: &HostInfo, config: &Config, image_available: bool, span: Span) -> Value {
    let mut r = Record::new();
    r.push("podman", Value::string(&h.podman, span));
    r.push("podman_version", Value::string(&h.version, span));
    r.push("rootless", Value::bool(h.rootless, span));
    r.push("cgroup_mode", Value::string(h.cgroup_mode.to_string(), span));
    r.push(
        "cgroup_controllers",
        Value::list(h.cgroup_controllers.iter().map(|c| Value::string(c, span)).collect(), span),
    );
    r.push("runtime", Value::string(h.runtime(), span));
    r.push("default_runtime", Value::string(&h.default_runtime, span));
    r.push("limits_enforceable", Value::bool(h.limits_enforceable, span));
    r.push("limits_reason", opt_string(h.limits_reason.as_deref(), span));
    r.push("cpus", Value::int(i64::from(h.cpus), span));
    r.push("uid", Value::int(i64::from(h.uid), span));
    r.push("default_image", Value::string(&config.default_image, span));
    r.push("default_image_available", Value::bool(image_available, span));
    r.push("trusted_images", Value::list(config.trusted_images.iter().map(|i| Value::string(i, span)).collect(), span));
    r.push("scope", Value::string(&config.scope, span));
    r.push("plugin_version", Value::string(env!("CARGO_PKG_VERSION"), span));
    r.push("core_version", Value::string(sandbox_core::VERSION, span));
    r.push("protocol_version", Value::int(i64::from(sandbox_core::PROTOCOL_VERSION), span));
    Value::record(r, span)
}

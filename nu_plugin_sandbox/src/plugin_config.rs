//! The effective sandbox [`Config`] of one command call.
//!
//! Lowest to highest precedence: built-in defaults; the config file (`SANDBOX_CONFIG`,
//! else `$XDG_CONFIG_HOME/sandbox/config.toml`, else `~/.config/sandbox/config.toml`);
//! `$env.config.plugins.sandbox` (same keys as the file, with nu types allowed: a
//! filesize for `limits.memory`, a duration for the `*_secs` keys); the `SANDBOX_*`
//! environment variables; and last the command's own flags.
//!
//! Environment variables and paths are read from the engine's environment at each call,
//! not from the plugin process (which nushell may have started long before, elsewhere),
//! so `with-env { SANDBOX_SCOPE: x } { sandbox list }` does what it says.

use std::collections::HashMap;
use std::path::PathBuf;

use nu_plugin::EngineInterface;
use nu_protocol::{LabeledError, Span, Value};
use sandbox_core::{Config, Error};

/// Label of the plugin configuration in error messages.
pub(crate) const PLUGIN_CONFIG_ORIGIN: &str = "$env.config.plugins.sandbox";

/// The configuration of a call and where its nu part was written.
#[derive(Debug)]
pub(crate) struct LoadedConfig {
    /// The effective configuration (before the command's flags).
    pub(crate) config: Config,
    /// Span of `$env.config.plugins.sandbox`, when set.
    pub(crate) plugin_span: Option<Span>,
}

/// Reads the engine's environment and plugin configuration and resolves the config.
pub(crate) fn load(engine: &EngineInterface, head: Span) -> Result<LoadedConfig, LabeledError> {
    let env: HashMap<String, String> =
        engine.get_env_vars()?.into_iter().filter_map(|(k, v)| v.as_str().ok().map(|s| (k, s.to_string()))).collect();
    let plugin = engine.get_plugin_config()?;
    resolve(&env, plugin.as_ref(), head)
}

/// Resolves the configuration from an environment and an optional plugin config value.
pub(crate) fn resolve(
    env: &HashMap<String, String>,
    plugin: Option<&Value>,
    head: Span,
) -> Result<LoadedConfig, LabeledError> {
    let file = read_file(env, head)?;
    let mut merged = toml::Table::new();
    if let Some((origin, text)) = &file {
        // Resolved alone first, so an error names the file rather than the merge.
        Config::resolve(Some((origin, text)), &|_| None).map_err(|e| config_error(&e, head))?;
        merged = toml::from_str(text)
            .map_err(|e| config_error(&Error::Config { origin: origin.clone(), detail: e.to_string() }, head))?;
    }
    let plugin_span = plugin.filter(|v| !v.is_nothing()).map(Value::span);
    if let Some(value) = plugin.filter(|v| !v.is_nothing()) {
        let span = value.span();
        let toml::Value::Table(table) = to_toml(value)? else {
            return Err(LabeledError::new(format!("{PLUGIN_CONFIG_ORIGIN} must be a record"))
                .with_label(format!("this is a {}", value.get_type()), span)
                .with_help("e.g. $env.config.plugins.sandbox = { image: \"localhost/sandbox-busybox:latest\", limits: { memory: 1GiB } }"));
        };
        let text = toml::to_string(&table).map_err(|e| LabeledError::new(e.to_string()).with_label("here", span))?;
        Config::resolve(Some((PLUGIN_CONFIG_ORIGIN, &text)), &|_| None).map_err(|e| config_error(&e, span))?;
        merge(&mut merged, table);
    }
    let text = toml::to_string(&merged).map_err(|e| LabeledError::new(e.to_string()).with_label("here", head))?;
    let origin = if plugin_span.is_some() { PLUGIN_CONFIG_ORIGIN.to_string() } else { String::from("the config file") };
    let config =
        Config::resolve(Some((&origin, &text)), &|k| env.get(k).cloned()).map_err(|e| config_error(&e, head))?;
    Ok(LoadedConfig { config, plugin_span })
}

fn config_error(e: &Error, span: Span) -> LabeledError {
    LabeledError::new(e.to_string()).with_label("invalid sandbox configuration", span).with_help(
        "keys are those of the config file: image, trusted_images, provision, container_prefix, scope, podman, runtime_dir, cache_dir, ready_timeout_secs, provision_timeout_secs, post_create_timeout_secs, tmp_size, idle_timeout_secs, policy { allow_post_create, allow_untrusted_image, network, require_resource_limits, protect_workspace, protected_paths }, limits { memory, cpus, pids }",
    )
}

/// The config file's path and text, if there is one.
fn read_file(env: &HashMap<String, String>, head: Span) -> Result<Option<(String, String)>, LabeledError> {
    let nonempty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let explicit = nonempty("SANDBOX_CONFIG");
    let path = match &explicit {
        Some(p) => PathBuf::from(p),
        None => match (nonempty("XDG_CONFIG_HOME"), nonempty("HOME")) {
            (Some(x), _) => PathBuf::from(x).join("sandbox/config.toml"),
            (None, Some(h)) => PathBuf::from(h).join(".config/sandbox/config.toml"),
            (None, None) => return Ok(None),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path.display().to_string(), text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => Ok(None),
        Err(e) => Err(LabeledError::new(format!("cannot read the sandbox config file {}: {e}", path.display()))
            .with_label("while loading the sandbox configuration", head)
            .with_help("$env.SANDBOX_CONFIG names a file that must exist and be readable")),
    }
}

/// Deep merge: tables merge key by key, anything else in `over` replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A nu value as TOML. Nothing values are dropped (they mean "not set").
fn to_toml(value: &Value) -> Result<toml::Value, LabeledError> {
    let span = value.span();
    Ok(match value {
        Value::Record { val, .. } => {
            let mut t = toml::Table::new();
            for (k, v) in val.iter() {
                if !v.is_nothing() {
                    t.insert(k.clone(), to_toml(v)?);
                }
            }
            toml::Value::Table(t)
        }
        Value::List { vals, .. } => toml::Value::Array(vals.iter().map(to_toml).collect::<Result<_, _>>()?),
        Value::String { val, .. } => toml::Value::String(val.clone()),
        Value::Int { val, .. } => toml::Value::Integer(*val),
        Value::Float { val, .. } => toml::Value::Float(*val),
        Value::Bool { val, .. } => toml::Value::Boolean(*val),
        Value::Filesize { val, .. } => toml::Value::Integer(val.get()),
        Value::Duration { val, .. } => {
            if *val < 0 {
                return Err(LabeledError::new("a negative duration in the sandbox configuration")
                    .with_label("must not be negative", span));
            }
            toml::Value::Integer(val.saturating_add(999_999_999) / 1_000_000_000)
        }
        other => {
            return Err(LabeledError::new(format!(
                "{PLUGIN_CONFIG_ORIGIN} holds a {} value, which is not a configuration value",
                other.get_type()
            ))
            .with_label("use a string, number, bool, filesize, duration, list or record", span));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nu_protocol::record;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn s() -> Span {
        Span::test_data()
    }

    #[test]
    fn defaults_without_anything() {
        let c = resolve(&env(&[]), None, s()).unwrap();
        assert_eq!(c.config, Config::default());
        assert!(c.plugin_span.is_none());
    }

    #[test]
    fn plugin_config_with_nu_types_sets_the_config() {
        let plugin = Value::test_record(record! {
            "image" => Value::test_string("localhost/x:1"),
            "trusted_images" => Value::test_list(vec![Value::test_string("localhost/y:2")]),
            "scope" => Value::test_string("nu-tests"),
            "ready_timeout_secs" => Value::test_duration(2_500_000_000),
            "policy" => Value::test_record(record! { "network" => Value::test_string("none") }),
            "limits" => Value::test_record(record! {
                "memory" => Value::test_filesize(512 * 1024 * 1024),
                "pids" => Value::test_int(99),
                "cpus" => Value::test_float(0.5),
            }),
            "provision" => Value::test_nothing(),
        });
        let c = resolve(&env(&[]), Some(&plugin), s()).unwrap().config;
        assert_eq!(c.default_image, "localhost/x:1");
        assert!(c.is_trusted("localhost/y:2"));
        assert_eq!(c.scope, "nu-tests");
        assert_eq!(c.ready_timeout, std::time::Duration::from_secs(3), "rounded up to whole seconds");
        assert_eq!(c.policy.network, sandbox_core::Network::None);
        assert_eq!(c.policy.limits.memory_bytes, 512 << 20);
        assert_eq!(c.policy.limits.pids, 99);
        assert_eq!(c.policy.limits.cpus, 0.5);
        assert!(c.provision, "nothing means unset");
    }

    #[test]
    fn environment_wins_over_plugin_config_which_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "scope = \"from-file\"\nimage = \"localhost/file:1\"\n[limits]\npids = 50\ncpus = 1\n")
            .unwrap();
        let plugin = Value::test_record(record! {
            "scope" => Value::test_string("from-plugin"),
            "limits" => Value::test_record(record! { "pids" => Value::test_int(60) }),
        });
        let e = env(&[("SANDBOX_CONFIG", file.to_str().unwrap()), ("SANDBOX_SCOPE", "from-env")]);
        let c = resolve(&e, Some(&plugin), s()).unwrap().config;
        assert_eq!(c.scope, "from-env");
        assert_eq!(c.default_image, "localhost/file:1", "file value kept where nothing overrides it");
        assert_eq!(c.policy.limits.pids, 60, "plugin config over the file");
        assert_eq!(c.policy.limits.cpus, 1.0, "tables merge key by key");
    }

    #[test]
    fn errors_point_at_the_plugin_config() {
        let span = Span::new(10, 20);
        let bad = Value::record(record! { "bogus" => Value::test_int(1) }, span);
        let e = resolve(&env(&[]), Some(&bad), s()).unwrap_err();
        assert!(e.msg.contains("bogus"), "{}", e.msg);
        assert_eq!(e.labels[0].span, span);
        let not_record = Value::string("x", span);
        let e = resolve(&env(&[]), Some(&not_record), s()).unwrap_err();
        assert!(e.msg.contains("must be a record"), "{}", e.msg);
        let closure_like = Value::record(record! { "image" => Value::test_glob("*") }, span);
        assert!(resolve(&env(&[]), Some(&closure_like), s()).is_err());
        let bad_net = Value::record(
            record! { "policy" => Value::test_record(record! { "network" => Value::test_string("host") }) },
            span,
        );
        let e = resolve(&env(&[]), Some(&bad_net), s()).unwrap_err();
        assert!(e.msg.contains("host"), "{}", e.msg);
    }

    #[test]
    fn missing_explicit_file_and_bad_env_are_errors() {
        let e = resolve(&env(&[("SANDBOX_CONFIG", "/nonexistent/sandbox.toml")]), None, s()).unwrap_err();
        assert!(e.msg.contains("/nonexistent/sandbox.toml"), "{}", e.msg);
        let e = resolve(&env(&[("SANDBOX_NETWORK", "host")]), None, s()).unwrap_err();
        assert!(e.msg.contains("SANDBOX_NETWORK"), "{}", e.msg);
        let ok = resolve(&env(&[("HOME", "/nonexistent-home")]), None, s()).unwrap();
        assert_eq!(ok.config, Config::default(), "a missing default file is fine");
    }
}

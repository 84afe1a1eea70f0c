//! The `nu_plugin_sandbox` executable: serves the plugin to nushell over its plugin
//! protocol. Register it with `plugin add path/to/nu_plugin_sandbox`, or run nushell
//! with `nu --plugins path/to/nu_plugin_sandbox`.

#![forbid(unsafe_code)]

use nu_plugin::{MsgPackSerializer, serve_plugin};
use nu_plugin_sandbox::SandboxPlugin;

fn main() {
    let plugin = match SandboxPlugin::new() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("nu_plugin_sandbox: cannot start its async runtime: {e}");
            std::process::exit(1);
        }
    };
    serve_plugin(&plugin, MsgPackSerializer {})
}

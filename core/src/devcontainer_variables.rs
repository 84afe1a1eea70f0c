//! Variable substitution in `devcontainer.json`: `${localEnv:VAR}` (and its alias
//! `${env:VAR}`), `${localEnv:VAR:default}`, `${localWorkspaceFolder}`,
//! `${containerWorkspaceFolder}` and their `...Basename` forms, applied to every string
//! value of the file (never to keys) before it is interpreted, with the rules of the
//! reference implementation: a reference runs from `${` to the first `}` on the same
//! line; its name and arguments are separated by `:`; an unknown name (such as
//! `${containerEnv:VAR}`, which only a running container can answer) is left as written;
//! `${localEnv}` without a variable name is an error.

use std::path::Path;

/// Where `${containerWorkspaceFolder}` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerWorkspace {
    /// The working dir itself: a session mounts it at its own path, so that is where
    /// the project is inside the container. What sessions use.
    SamePath,
    /// The reference implementation's convention: the file's `workspaceFolder` when it
    /// sets one, else `/workspaces/<name of the working dir>`. For comparing with the
    /// reference (and for showing what the file would mean there).
    Reference,
}

/// The inputs of substitution.
pub struct Variables<'a> {
    /// The working dir on the host (absolute).
    pub local_workspace_folder: &'a Path,
    /// Where `${containerWorkspaceFolder}` points.
    pub container_workspace: ContainerWorkspace,
    /// The host environment `${localEnv:VAR}` may read. Sessions pass only the
    /// variables the configuration lets a project read (see
    /// [`Config::devcontainer_local_env`](crate::Config::devcontainer_local_env)).
    pub local_env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

impl Variables<'_> {
    /// `${containerWorkspaceFolder}` for a file whose raw `workspaceFolder` is `raw`
    /// (as written, before substitution).
    pub(crate) fn container_workspace_folder(&self, raw: Option<&str>) -> Result<String, String> {
        let local = self.local_workspace_folder.to_string_lossy();
        match self.container_workspace {
            ContainerWorkspace::SamePath => Ok(local.into_owned()),
            ContainerWorkspace::Reference => {
                let raw = match raw.filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => format!("/workspaces/{}", basename(&local)),
                };
                // The folder is itself substituted, with itself (as written) as
                // `${containerWorkspaceFolder}`.
                let mut uses = Vec::new();
                substitute(&raw, self, &raw, &mut uses)
            }
        }
    }
}

/// Basename the way POSIX `path.basename` of Node.js gives it: trailing slashes are
/// ignored; `/` and the empty path have none.
pub(crate) fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or("")
}

/// Characters that end a line for the reference's pattern (JavaScript's `.` stops at them).
fn ends_line(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// Substitutes every reference in `text`. `container_folder` is the value of
/// `${containerWorkspaceFolder}`; the name of every host variable a reference reads is
/// appended to `env_uses` (whether it was set or not).
pub(crate) fn substitute(
    text: &str,
    vars: &Variables<'_>,
    container_folder: &str,
    env_uses: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let close = after.find(|c: char| c == '}' || ends_line(c)).filter(|&i| after[i..].starts_with('}'));
        let Some(close) = close else {
            // No `}` on this line: not a reference; go on after the `$`.
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        };
        out.push_str(&rest[..at]);
        let inner = &after[..close];
        let mut parts = inner.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let local = vars.local_workspace_folder.to_string_lossy();
        match name {
            "env" | "localEnv" => {
                let Some(var) = args.first() else {
                    return Err(format!("'${{{inner}}}' cannot be resolved: it names no environment variable"));
                };
                env_uses.push(var.to_string());
                match (vars.local_env)(var) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(args.get(1).copied().unwrap_or_default()),
                }
            }
            "localWorkspaceFolder" => out.push_str(&local),
            "localWorkspaceFolderBasename" => out.push_str(basename(&local)),
            "containerWorkspaceFolder" => out.push_str(container_folder),
            "containerWorkspaceFolderBasename" => out.push_str(basename(container_folder)),
            _ => out.push_str(&rest[at..at + 2 + close + 1]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn sub(text: &str) -> Result<String, String> {
        let vars = Variables {
            local_workspace_folder: Path::new("/src/proj"),
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &env,
        };
        substitute(text, &vars, "/workspaces/proj", &mut Vec::new())
    }

    #[test]
    fn references_are_replaced_as_the_reference_does() {
        let cases = [
            ("${localEnv:HOME}", "/home/me"),
            ("${env:HOME}", "/home/me"),
            ("${localEnv:NOPE}", ""),
            ("${localEnv:NOPE:fallback}", "fallback"),
            ("${localEnv:NOPE:a:b}", "a"),
            ("${localEnv:HOME:unused}", "/home/me"),
            ("${localEnv:EMPTY:unused}", ""),
            ("${localEnv:NOPE:}", ""),
            ("${localEnv:}", ""),
            ("${localWorkspaceFolder}", "/src/proj"),
            ("${localWorkspaceFolderBasename}", "proj"),
            ("${localWorkspaceFolder:ignored}", "/src/proj"),
            ("${containerWorkspaceFolder}/bin", "/workspaces/proj/bin"),
            ("${containerWorkspaceFolderBasename}", "proj"),
            ("${containerEnv:PATH}:/x", "${containerEnv:PATH}:/x"),
            ("${devcontainerId}", "${devcontainerId}"),
            ("${}", "${}"),
            ("$${localEnv:HOME}}", "$/home/me}"),
            ("${localEnv:HOME", "${localEnv:HOME"),
            ("${a\n}${localEnv:HOME}", "${a\n}/home/me"),
            ("${a${localEnv:HOME}", "${a${localEnv:HOME}"),
            ("a ${localWorkspaceFolderBasename} b ${localEnv:HOME} c", "a proj b /home/me c"),
            ("no references", "no references"),
        ];
        for (text, want) in cases {
            assert_eq!(sub(text).unwrap(), want, "{text:?}");
        }
        assert!(sub("${localEnv}").unwrap_err().contains("names no environment variable"));
        assert!(sub("x ${env} y").is_err());
    }

    #[test]
    fn host_variables_read_are_recorded() {
        let vars = Variables {
            local_workspace_folder: Path::new("/p"),
            container_workspace: ContainerWorkspace::SamePath,
            local_env: &env,
        };
        let mut uses = Vec::new();
        substitute("${localEnv:HOME} ${env:SECRET:x} ${localWorkspaceFolder}", &vars, "/p", &mut uses).unwrap();
        assert_eq!(uses, vec!["HOME", "SECRET"]);
    }

    #[test]
    fn the_container_folder_follows_the_chosen_convention() {
        let mk =
            |cw| Variables { local_workspace_folder: Path::new("/src/proj"), container_workspace: cw, local_env: &env };
        assert_eq!(
            mk(ContainerWorkspace::SamePath).container_workspace_folder(Some("/elsewhere")).unwrap(),
            "/src/proj"
        );
        let r = mk(ContainerWorkspace::Reference);
        assert_eq!(r.container_workspace_folder(None).unwrap(), "/workspaces/proj");
        assert_eq!(r.container_workspace_folder(Some("")).unwrap(), "/workspaces/proj");
        assert_eq!(r.container_workspace_folder(Some("/w/${localWorkspaceFolderBasename}")).unwrap(), "/w/proj");
        assert_eq!(
            r.container_workspace_folder(Some("/w/${containerWorkspaceFolder}")).unwrap(),
            "/w//w/${containerWorkspaceFolder}"
        );
    }

    #[test]
    fn basenames_ignore_trailing_slashes() {
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(basename("/"), "");
        assert_eq!(basename(""), "");
        assert_eq!(basename("x"), "x");
    }
}

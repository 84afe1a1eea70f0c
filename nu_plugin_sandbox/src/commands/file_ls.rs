//! `sandbox file ls <session> [path]`: a directory listing with the columns of `ls`.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::FileKind;

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::{arguments, interrupt, records};

/// `sandbox file ls`: one row per entry.
pub struct FileLs;

impl PluginCommand for FileLs {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox file ls"
    }

    fn description(&self) -> &str {
        "List a directory in a sandbox session (default: its working directory) as a table with the columns of nushell's `ls`."
    }

    fn extra_description(&self) -> &str {
        "Columns as `ls` has them: name, type (file, dir, symlink, or other for devices, fifos and sockets), size \
(filesize), modified (datetime); --long adds target (where a symlink points) and mode (rwxr-xr-x). As with `ls`, \
names are joined to the directory as it was written (`sandbox file ls s src` lists src/main.rs), entries whose \
name starts with a dot are left out unless --all is given, and a path to a file lists that file. Paths are \
resolved inside the session's container, relative ones against its working directory; no glob patterns."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .optional("path", SyntaxShape::String, "Directory (or file) to list (default: the working directory).")
            .switch("all", "Show hidden entries (names starting with a dot) too.", Some('a'))
            .switch("long", "Add the target and mode columns.", Some('l'))
            .input_output_type(Type::Nothing, Type::table())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["ls", "dir", "directory", "files", "list"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "'hi' | sandbox file write demo listed.txt; (sandbox file ls demo).name",
                description: "List the session's working directory",
                result: Some(Value::test_list(vec![Value::test_string("listed.txt")])),
            },
            Example {
                example: "sandbox file ls demo src | where type == file | sort-by size --reverse | first 5",
                description: "The biggest files of a project directory",
                result: None,
            },
            Example {
                example: "sandbox file ls demo --all --long",
                description: "Everything in the working directory, with modes and symlink targets",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let path = match call.opt::<Value>(1)? {
            Some(v) => {
                let p = arguments::sandbox_path(&v)?;
                ctx.errors.blame("file", p.span);
                ctx.errors.blame("path", p.span);
                ctx.errors.blame("file request", p.span);
                Some(p.item)
            }
            None => None,
        };
        let all = call.has_flag("all")?;
        let long = call.has_flag("long")?;
        let wanted = path.clone();
        let listing =
            ctx.on_session(plugin, engine, call, "sandbox file ls", interrupt::CANCELLED, |s| async move {
                let full = match &wanted {
                    Some(p) => arguments::resolve_in(s.working_dir(), p),
                    None => s.working_dir().display().to_string(),
                };
                match s.list_dir(&full).await {
                    Ok(entries) => Ok(Listing::Dir(entries)),
                    // `ls file` lists the file, as nushell's `ls` does.
                    Err(e) => match s.stat(&full).await {
                        Ok(info) if info.kind != FileKind::Dir => Ok(Listing::File(info)),
                        _ => Err(e),
                    },
                }
            })?;
        let span = call.head;
        let rows = match listing {
            Listing::Dir(entries) => entries
                .iter()
                .filter(|f| all || !f.name.starts_with('.'))
                .map(|f| records::file_row(f, path.as_deref(), long, span))
                .collect(),
            Listing::File(mut info) => {
                if let Some(p) = &path {
                    info.name = p.clone();
                }
                vec![records::file_row(&info, None, long, span)]
            }
        };
        Ok(PipelineData::value(Value::list(rows, span), None))
    }
}

enum Listing {
    Dir(Vec<sandbox_core::FileInfo>),
    File(sandbox_core::FileInfo),
}

//! `copy remove PATH...`: the copies of snapshots that sessions started from one (`sandbox
//! start --snapshot NAME [DIR]`; without DIR a managed copy, `<copy dir>/<id>`) and fork
//! children got as working dirs. A copy is made with
//! reflinks, as an overlay on the snapshot's tree (it stays mounted after its session
//! stops, and keeps the snapshot from being removed) or as a plain copy.

use sandbox_core::{Error, Sandbox};

use crate::Done;
use crate::args::CopyCommand;
use crate::output::Out;

/// `sandbox copy remove PATH...` (or `rm`): every copy named (a relative path against
/// the current dir), even when one fails; the first error is the command's.
pub async fn copy(sandbox: &Sandbox, c: CopyCommand, out: Out) -> Result<Done, Error> {
    let CopyCommand::Remove { paths } = c;
    let mut first = None;
    for path in &paths {
        let removed = async {
            let path = std::path::absolute(path).map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
            sandbox.remove_copy(&path).await.map(|()| path)
        };
        match removed.await {
            Ok(path) => out.note(&format!("removed copy {}", path.display())),
            Err(e) => {
                eprintln!("sandbox: error: {e}");
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(Done::Ok), Err)
}

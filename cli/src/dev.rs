//! `faas dev`: the local loop. Builds, deploys and runs a project, then
//! does it again each time a source file changes, printing each result.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::{EventKind, RecursiveMode, Watcher};
use protocol::FunctionRef;

use crate::args::Input;
use crate::commands::Context;
use crate::commands::functions::{print_invocation, read_input, upload};
use crate::failure::Failure;
use crate::project;

/// How long changes are gathered into one rebuild (an editor's save is
/// often several events).
const SETTLE: Duration = Duration::from_millis(300);

/// Runs the loop until interrupted.
pub async fn dev(
    ctx: &Context,
    function: &FunctionRef,
    dir: Option<PathBuf>,
    input: &Input,
    logs: bool,
    create_bucket: bool,
) -> Result<(), Failure> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("opening {}", dir.display()))?;
    let input = read_input(input)?;
    let (changes, mut changed) = tokio::sync::mpsc::unbounded_channel();
    let root = dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|path| is_source(&root, path))
        {
            let _ = changes.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher.watch(&dir, RecursiveMode::Recursive).with_context(|| format!("watching {}", dir.display()))?;
    let mut first = true;
    loop {
        match once(ctx, function, &dir, &input, logs, create_bucket && first).await {
            // A project that cannot be built at all will not get better.
            Err(err @ Failure::Usage(_)) if first => return Err(err),
            Err(err) => err.report(ctx.output),
            Ok(()) => {}
        }
        first = false;
        eprintln!("watching {} for changes (Ctrl-C stops)", dir.display());
        if changed.recv().await.is_none() {
            return Ok(());
        }
        tokio::time::sleep(SETTLE).await;
        while changed.try_recv().is_ok() {}
        eprintln!("change seen: rebuilding");
    }
}

/// One round: build, deploy, run, print.
async fn once(
    ctx: &Context,
    function: &FunctionRef,
    dir: &Path,
    input: &[u8],
    logs: bool,
    create_bucket: bool,
) -> Result<(), Failure> {
    let component = tokio::task::block_in_place(|| project::build(dir))?;
    let (uploaded, elapsed) = upload(ctx, function, &component, create_bucket).await?;
    eprintln!("deployed {function}: sha256:{} in {:.2} s", uploaded.digest, elapsed.as_secs_f64());
    let invocation = ctx.client.exec(function, input.to_vec(), logs).await?;
    print_invocation(ctx.output, &invocation);
    Ok(())
}

/// Whether a changed path is a source of the project: not what the build
/// writes (`target/`, `Cargo.lock`, Python's `__pycache__`), installed
/// packages (`node_modules`), nor a hidden file or directory.
fn is_source(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else { return false };
    let first = match relative.components().next() {
        Some(Component::Normal(first)) => first.to_string_lossy(),
        _ => return false,
    };
    let built = ["target", "Cargo.lock", "node_modules"].contains(&first.as_ref())
        || relative.components().any(|part| part.as_os_str() == "__pycache__");
    let hidden = relative.components().any(|part| part.as_os_str().to_string_lossy().starts_with('.'));
    !built && !hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_and_hidden_files_are_not_sources() {
        let root = Path::new("/p");
        assert!(is_source(root, Path::new("/p/src/lib.rs")));
        assert!(is_source(root, Path::new("/p/Cargo.toml")));
        assert!(!is_source(root, Path::new("/p/target/wasm32-wasip2/release/p.wasm")));
        assert!(!is_source(root, Path::new("/p/Cargo.lock")));
        assert!(is_source(root, Path::new("/p/app.py")));
        assert!(!is_source(root, Path::new("/p/__pycache__/app.cpython-311.pyc")));
        assert!(!is_source(root, Path::new("/p/node_modules/x/index.js")));
        assert!(!is_source(root, Path::new("/p/src/.lib.rs.swp")));
        assert!(!is_source(root, Path::new("/elsewhere/src/lib.rs")));
    }
}

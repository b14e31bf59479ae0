//! Function projects: `faas new` writes one from templates built into the
//! binary, `faas build` turns one into a component.
//!
//! Rust only for now: Python and JavaScript guests (componentize-py,
//! componentize-js) come with their templates and toolchains later.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use protocol::FunctionName;

use crate::args::{Lang, World};
use crate::failure::Failure;

/// The Rust target every guest is built for.
const TARGET: &str = "wasm32-wasip2";

/// The Rust template: (path in the project, contents).
const RUST_TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../templates/rust/lib.rs")),
    (".cargo/config.toml", include_str!("../templates/rust/config.toml")),
    (".gitignore", include_str!("../templates/rust/gitignore")),
    // The function contract, as the platform checks it.
    ("wit/faas.wit", include_str!("../../wit/faas.wit")),
];

/// Writes a new project named `name` into `parent/<name>`; returns its path.
pub fn scaffold(parent: &Path, name: &str, lang: Lang, world: World) -> Result<PathBuf, Failure> {
    match lang {
        Lang::Rust => {}
        Lang::Python | Lang::Js => {
            return Err(Failure::usage(format!(
                "--lang {} is not supported yet: only Rust functions can be created and built for now",
                if lang == Lang::Python { "python" } else { "js" }
            )));
        }
    }
    if world == World::Http {
        return Err(Failure::usage(
            "--world http is not supported yet: the platform runs the exec world only",
        ));
    }
    // A function name is also a valid package name and directory name.
    let name = FunctionName::new(name).map_err(|e| Failure::usage(e.to_string()))?;
    let dir = parent.join(name.as_str());
    if dir.exists() {
        return Err(Failure::usage(format!("{} exists already", dir.display())));
    }
    let crate_name = name.as_str().replace('-', "_");
    for (path, contents) in RUST_TEMPLATE {
        let path = dir.join(path);
        let contents = contents.replace("{{name}}", name.as_str()).replace("{{crate}}", &crate_name);
        std::fs::create_dir_all(path.parent().expect("template paths have a parent"))
            .and_then(|()| std::fs::write(&path, contents))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

/// Builds the project in `dir` (`cargo build --release --target
/// wasm32-wasip2`, its progress on stderr); returns the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, Failure> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::usage(format!(
            "{} has no Cargo.toml: only Rust (cargo) projects can be built for now",
            dir.display()
        )));
    }
    let artifact = artifact_path(&manifest)?;
    let status = Command::new("cargo")
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        // stdout is the command's answer: the build's chatter goes to stderr.
        .stdout(stderr()?)
        .stderr(Stdio::inherit())
        .status()
        .context("running cargo (is Rust installed?)")?;
    if !status.success() {
        return Err(anyhow::anyhow!("the build failed ({status})").into());
    }
    if !artifact.is_file() {
        return Err(anyhow::anyhow!("the build made no {}", artifact.display()).into());
    }
    Ok(artifact)
}

/// Where cargo will put the project's component, from `cargo metadata`
/// (which knows the target directory, wherever CARGO_TARGET_DIR points).
fn artifact_path(manifest: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata (is Rust installed?)")?;
    if !output.status.success() {
        bail!("cargo metadata failed on {}", manifest.display());
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let manifest = std::fs::canonicalize(manifest)?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| {
            packages
                .iter()
                .find(|p| p["manifest_path"].as_str().map(PathBuf::from).as_deref() == Some(&manifest))
        })
        .with_context(|| format!("{} is not a package (a workspace root?)", manifest.display()))?;
    let cdylib = package["targets"]
        .as_array()
        .and_then(|targets| {
            targets.iter().find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        })
        .context("the package has no cdylib target: add `[lib] crate-type = [\"cdylib\"]`")?;
    let name = cdylib["name"].as_str().context("a target without a name")?.replace('-', "_");
    let target_dir = metadata["target_directory"].as_str().context("no target_directory")?;
    Ok(Path::new(target_dir).join(TARGET).join("release").join(format!("{name}.wasm")))
}

/// A handle on this process's stderr, for a child's stdout.
fn stderr() -> anyhow::Result<Stdio> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        Ok(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
    }
    #[cfg(not(unix))]
    Ok(Stdio::inherit())
}

//! Function projects: `faas new` writes one from templates built into the
//! binary, `faas build` turns one into a component.
//!
//! A project's language is told by its marker file: `Cargo.toml` (Rust,
//! cargo), `app.py` (Python, componentize-py) or `package.json`
//! (JavaScript, componentize-js). The Python and JavaScript toolchains are
//! found on PATH or in the cache `scripts/build-functions.sh` installs them
//! into, so a clone that ran the test command can build every language.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use protocol::FunctionName;

use crate::args::{Lang, World};
use crate::failure::Failure;

/// The Rust target every guest is built for.
const TARGET: &str = "wasm32-wasip2";

/// The function contract, as the platform checks it, which every template
/// carries: `wit/faas.wit` and the packages its worlds import.
const CONTRACT_WIT: &[(&str, &str)] = &[
    ("wit/faas.wit", include_str!("../../wit/faas.wit")),
    // `faas-exec-config` imports `wasi:config/store`.
    ("wit/deps/config/store.wit", include_str!("../../wit/deps/config/store.wit")),
    ("wit/deps/config/world.wit", include_str!("../../wit/deps/config/world.wit")),
    // `faas-exec-keyvalue` imports `wasi:keyvalue`.
    ("wit/deps/keyvalue/atomic.wit", include_str!("../../wit/deps/keyvalue/atomic.wit")),
    ("wit/deps/keyvalue/batch.wit", include_str!("../../wit/deps/keyvalue/batch.wit")),
    ("wit/deps/keyvalue/store.wit", include_str!("../../wit/deps/keyvalue/store.wit")),
    ("wit/deps/keyvalue/watch.wit", include_str!("../../wit/deps/keyvalue/watch.wit")),
    ("wit/deps/keyvalue/world.wit", include_str!("../../wit/deps/keyvalue/world.wit")),
    // `faas-exec-blobstore` imports `wasi:blobstore`, which uses `wasi:io`.
    ("wit/deps/blobstore/blobstore.wit", include_str!("../../wit/deps/blobstore/blobstore.wit")),
    ("wit/deps/io/io.wit", include_str!("../../wit/deps/io/io.wit")),
    // `faas-exec-messaging` imports `wasmcloud:messaging/consumer`.
    ("wit/deps/messaging/package.wit", include_str!("../../wit/deps/messaging/package.wit")),
];

/// The Rust template: (path in the project, contents), beside [`CONTRACT_WIT`].
const RUST_TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../templates/rust/lib.rs")),
    (".cargo/config.toml", include_str!("../templates/rust/config.toml")),
    (".gitignore", include_str!("../templates/rust/gitignore")),
];

/// The Python template: `exec` is a method of the generated `WitWorld`.
const PYTHON_TEMPLATE: &[(&str, &str)] = &[
    ("app.py", include_str!("../templates/python/app.py")),
    (".gitignore", include_str!("../templates/python/gitignore")),
];

/// The JavaScript template: `exec` is an exported function of the module.
const JS_TEMPLATE: &[(&str, &str)] = &[
    ("index.js", include_str!("../templates/js/index.js")),
    ("package.json", include_str!("../templates/js/package.json")),
    (".gitignore", include_str!("../templates/js/gitignore")),
];

/// The Python module a Python project's component is built from.
const PYTHON_APP: &str = "app";

/// The world every template exports (`wit/faas.wit`).
const WORLD: &str = "faas-exec";

/// Where `scripts/build-functions.sh` installs the Python and JavaScript
/// toolchains, unless `FAAS_TOOLCHAINS_DIR` says otherwise.
const TOOLCHAINS_ENV: &str = "FAAS_TOOLCHAINS_DIR";

/// Writes a new project named `name` into `parent/<name>`; returns its path.
pub fn scaffold(parent: &Path, name: &str, lang: Lang, world: World) -> Result<PathBuf, Failure> {
    let template = match lang {
        Lang::Rust => RUST_TEMPLATE,
        Lang::Python => PYTHON_TEMPLATE,
        Lang::Js => JS_TEMPLATE,
    };
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
    for (path, contents) in template.iter().chain(CONTRACT_WIT) {
        let path = dir.join(path);
        let contents = contents.replace("{{name}}", name.as_str()).replace("{{crate}}", &crate_name);
        std::fs::create_dir_all(path.parent().expect("template paths have a parent"))
            .and_then(|()| std::fs::write(&path, contents))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

/// Builds the project in `dir` with its language's toolchain (its progress
/// on stderr); returns the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, Failure> {
    if dir.join("Cargo.toml").is_file() {
        build_rust(dir)
    } else if dir.join(format!("{PYTHON_APP}.py")).is_file() {
        build_python(&absolute(dir)?)
    } else if dir.join("package.json").is_file() {
        build_js(&absolute(dir)?)
    } else {
        Err(Failure::usage(format!(
            "{} is not a function project: it has no Cargo.toml (Rust), {PYTHON_APP}.py (Python) or \
             package.json (JavaScript); `faas new <name> --lang rust|python|js` makes one",
            dir.display()
        )))
    }
}

/// `componentize-py` over `app.py`, into `target/<dir name>.wasm`.
fn build_python(dir: &Path) -> Result<PathBuf, Failure> {
    let tool = toolchain(
        "componentize-py",
        &["python", "bin"],
        "pip install componentize-py (or run scripts/build-functions.sh, which installs it)",
    )?;
    let out = output_path(dir, None)?;
    let mut command = Command::new(&tool);
    command
        .arg("--wit-path")
        .arg(dir.join("wit"))
        .args(["--world", WORLD, "componentize", PYTHON_APP, "--output"])
        .arg(&out)
        .current_dir(dir);
    run_tool(command, &tool, &out)
}

/// `componentize-js` over the package's main module (`index.js` unless
/// `package.json` names another), into `target/<package name>.wasm`.
fn build_js(dir: &Path) -> Result<PathBuf, Failure> {
    let manifest = dir.join("package.json");
    let package: serde_json::Value = std::fs::read(&manifest)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
        .with_context(|| format!("reading {}", manifest.display()))?;
    let main = package["main"].as_str().unwrap_or("index.js");
    let tool = toolchain(
        "componentize-js",
        &["node", "node_modules", ".bin"],
        "npm install -g @bytecodealliance/componentize-js @bytecodealliance/preview2-shim \
         (or run scripts/build-functions.sh, which installs it)",
    )?;
    let out = output_path(dir, package["name"].as_str())?;
    let mut command = Command::new(&tool);
    command
        .arg("--wit")
        .arg(dir.join("wit"))
        // The sandbox links WASI 0.2 without wasi:http: leave fetch out.
        .args(["--world-name", WORLD, "--disable", "http", "fetch-event", "--out"])
        .arg(&out)
        .arg(dir.join(main));
    run_tool(command, &tool, &out)
}

/// `dir` as an absolute path, since the tools run in it.
fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(dir).with_context(|| format!("opening {}", dir.display()))
}

/// `target/<name>.wasm` in `dir` (the directory's name unless one is
/// given), the folder made.
fn output_path(dir: &Path, name: Option<&str>) -> anyhow::Result<PathBuf> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => dir.file_name().map_or_else(|| "function".into(), |n| n.to_string_lossy().into_owned()),
    };
    let target = dir.join("target");
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    Ok(target.join(format!("{name}.wasm")))
}

/// Runs a componentize tool, its chatter on stderr, and checks it made `out`.
fn run_tool(mut command: Command, tool: &Path, out: &Path) -> Result<PathBuf, Failure> {
    eprintln!("building {} with {}", out.display(), tool.display());
    let status = command
        .stdout(stderr()?)
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        return Err(anyhow::anyhow!("the build failed ({status})").into());
    }
    if !out.is_file() {
        return Err(anyhow::anyhow!("the build made no {}", out.display()).into());
    }
    Ok(out.to_owned())
}

/// The toolchain program `name`: on PATH, or under `relative` in the
/// toolchains cache; a usage error with `install` as the hint otherwise.
fn toolchain(name: &str, relative: &[&str], install: &str) -> Result<PathBuf, Failure> {
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
    {
        return Ok(found);
    }
    let cache = toolchains_dir();
    let installed = relative.iter().fold(cache.clone(), |path, part| path.join(part)).join(name);
    if installed.is_file() {
        return Ok(installed);
    }
    Err(Failure::usage(format!(
        "{name} is not on PATH nor in {} ({TOOLCHAINS_ENV}): {install}",
        cache.display()
    )))
}

/// The toolchains cache: `FAAS_TOOLCHAINS_DIR`, or `wasm-faas/toolchains`
/// in the per-user cache directory, as `scripts/build-functions.sh` has it.
fn toolchains_dir() -> PathBuf {
    std::env::var_os(TOOLCHAINS_ENV).map(PathBuf::from).unwrap_or_else(|| {
        dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("wasm-faas").join("toolchains")
    })
}

/// `cargo build --release --target wasm32-wasip2`.
fn build_rust(dir: &Path) -> Result<PathBuf, Failure> {
    let manifest = dir.join("Cargo.toml");
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

//! Guest components for tests and the demo.
//!
//! The example functions live in `functions/`, a separate Cargo workspace
//! that targets `wasm32-wasip2`. Tests need the compiled components, so the
//! first request in a process builds them; CI can build them once up front
//! and point `FAAS_GUESTS_DIR` at the output instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Name of the custom section [`with_custom_section`] appends.
pub const PADDING_SECTION: &str = "faas-padding";

/// The `functions/` workspace beside the crate cargo is running (every
/// crate of the repository sits at its top level), else beside this crate's
/// sources as they were when it was compiled. The run-time answer comes
/// first because one build cache serves several checkouts: cargo may reuse
/// this crate compiled in another checkout, whose path `env!` baked in.
pub fn functions_dir() -> PathBuf {
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let beside = |crate_dir: &Path| crate_dir.parent().map(|root| root.join("functions"));
    running
        .as_deref()
        .and_then(beside)
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .or_else(|| beside(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .expect("the stack crate lives inside the repository")
}

/// Path of the compiled guest `name` (e.g. `hello`, `fibonacci`, `hello-py`,
/// `echo-http`, `echo-http-js`).
///
/// With `FAAS_GUESTS_DIR` set this is `<dir>/<name>.wasm`. Otherwise the guest
/// workspace is built in release mode, once per process; the Python and
/// JavaScript guests (`hello-py`, `counter-py`, `hello-js`, `echo-http-py`,
/// `echo-http-js`) are not cargo's but `scripts/build-functions.sh`'s, which
/// writes them to the same folder (the test command runs it first). Cargo
/// names a library crate's file with underscores (`echo-http` builds
/// `echo_http.wasm`), so that spelling is found too.
///
/// # Panics
///
/// If the build fails (with cargo's output) or the file does not exist.
pub fn guest_path(name: &str) -> PathBuf {
    let dir = match std::env::var_os("FAAS_GUESTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => built_guests_dir().to_owned(),
    };
    let path = dir.join(format!("{name}.wasm"));
    let underscored = dir.join(format!("{}.wasm", name.replace('-', "_")));
    let path = if path.is_file() || !underscored.is_file() { path } else { underscored };
    assert!(path.is_file(), "guest component {} does not exist", path.display());
    path
}

/// The bytes of the compiled guest `name`; see [`guest_path`].
///
/// # Panics
///
/// As [`guest_path`], or if the file cannot be read.
pub fn guest_bytes(name: &str) -> Vec<u8> {
    let path = guest_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn built_guests_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let functions = functions_dir();
        let target_dir = functions.join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // The explicit target dir keeps a CARGO_TARGET_DIR meant for the host
        // workspace from moving the output somewhere we do not look, and
        // RUSTFLAGS for the host (e.g. target-cpu=native) must not reach the
        // wasm build.
        let output = Command::new(cargo)
            .args(["build", "--release", "--target-dir"])
            .arg(&target_dir)
            .current_dir(&functions)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .unwrap_or_else(|e| panic!("run cargo build in {}: {e}", functions.display()));
        assert!(
            output.status.success(),
            "building the guests in {} failed ({}):\n{}",
            functions.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        target_dir.join("wasm32-wasip2").join("release")
    })
}

/// Appends a component-level custom section so that the result is about
/// `size` bytes long and still a valid component.
///
/// Used to exercise uploads of realistic large functions without having to
/// compile one. If `component` is already at least `size` bytes, a small
/// section with no filler is still appended.
pub fn with_custom_section(component: &[u8], size: usize) -> Vec<u8> {
    let mut name = Vec::new();
    write_leb128_u32(&mut name, PADDING_SECTION.len() as u32);
    name.extend_from_slice(PADDING_SECTION.as_bytes());

    // The payload length prefix is itself part of the total, and its width
    // depends on the payload length; try each possible width. Just below a
    // width boundary no filler hits `size` exactly, so then aim one byte over.
    let base = component.len() + 1 + name.len();
    let filler = (0..=1)
        .find_map(|over| {
            (1..=5).find_map(|width| {
                let filler = (size + over).checked_sub(base + width)?;
                let payload = u32::try_from(name.len() + filler).ok()?;
                (leb128_len(payload) == width).then_some(filler)
            })
        })
        .unwrap_or(0);
    let payload = u32::try_from(name.len() + filler).expect("section payload fits in u32");

    let mut out = Vec::with_capacity(base + 5 + filler);
    out.extend_from_slice(component);
    out.push(0); // custom section id
    write_leb128_u32(&mut out, payload);
    out.extend_from_slice(&name);
    out.resize(out.len() + filler, 0);
    out
}

/// `component` with a custom section named `faas-variant` holding `tag`
/// appended: the same code under a new sha256, which is how tests and the
/// benchmark get "a component the platform has never seen" without
/// compiling one. Runtimes ignore custom sections' contents.
pub fn with_tag(component: &[u8], tag: &str) -> Vec<u8> {
    const SECTION: &str = "faas-variant";
    let mut payload = Vec::new();
    write_leb128_u32(&mut payload, SECTION.len() as u32);
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(tag.as_bytes());
    let mut out = Vec::with_capacity(component.len() + payload.len() + 6);
    out.extend_from_slice(component);
    out.push(0); // custom section id
    write_leb128_u32(&mut out, u32::try_from(payload.len()).expect("a tag is far shorter than 4 GiB"));
    out.extend_from_slice(&payload);
    out
}

fn write_leb128_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb128_len(value: u32) -> usize {
    let mut buf = Vec::with_capacity(5);
    write_leb128_u32(&mut buf, value);
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_leb128_u32(bytes: &[u8]) -> (u32, usize) {
        let mut value = 0u32;
        for (i, b) in bytes.iter().enumerate().take(5) {
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return (value, i + 1);
            }
        }
        panic!("unterminated LEB128");
    }

    #[test]
    fn leb128_matches_the_spec_examples() {
        let enc = |v| {
            let mut out = Vec::new();
            write_leb128_u32(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(624_485), [0xe5, 0x8e, 0x26]);
        assert_eq!(enc(u32::MAX), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        for v in [0, 1, 127, 128, 16_383, 16_384, 5 << 20, 40 << 20, u32::MAX] {
            assert_eq!(read_leb128_u32(&enc(v)), (v, leb128_len(v)));
        }
    }

    /// Parses the appended section and checks it spans exactly to the end.
    fn check_section(component: &[u8], padded: &[u8]) {
        assert_eq!(&padded[..component.len()], component);
        let rest = &padded[component.len()..];
        assert_eq!(rest[0], 0, "custom section id");
        let (payload, width) = read_leb128_u32(&rest[1..]);
        let payload_bytes = &rest[1 + width..];
        assert_eq!(payload_bytes.len(), payload as usize);
        let (name_len, name_width) = read_leb128_u32(payload_bytes);
        let name = &payload_bytes[name_width..name_width + name_len as usize];
        assert_eq!(name, PADDING_SECTION.as_bytes());
    }

    #[test]
    fn padding_reaches_the_requested_size() {
        // Component preamble: magic, version 0x0d, layer 1.
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        // 22 bytes before the filler; payloads of 127 and 128 bytes straddle
        // the one-byte LEB128 boundary, giving totals 137 and 139.
        for size in [40, 137, 138, 139, 150, 16_400, 5 << 20, 40 << 20] {
            let padded = with_custom_section(&component, size);
            check_section(&component, &padded);
            // Some sizes cannot be hit exactly because widening the length
            // prefix adds a byte; one off is fine.
            assert!(padded.len() == size || padded.len() == size + 1, "size {size}: got {}", padded.len());
        }
        assert_eq!(with_custom_section(&component, 138).len(), 139);
        assert_eq!(with_custom_section(&component, 137).len(), 137);
        assert_eq!(with_custom_section(&component, 5 << 20).len(), 5 << 20);
        assert_eq!(with_custom_section(&component, 40 << 20).len(), 40 << 20);
    }

    #[test]
    fn small_targets_still_append_a_valid_section() {
        let component = vec![7u8; 100];
        let padded = with_custom_section(&component, 10);
        check_section(&component, &padded);
        assert_eq!(padded.len(), 100 + 1 + 1 + 1 + PADDING_SECTION.len());
    }
}

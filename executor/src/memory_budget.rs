//! The default byte budget of the component cache: a share of the memory
//! this process may use.
//!
//! An executor runs in a container as often as on a bare host, and there the
//! host's `MemTotal` overstates what it may use by far: the cgroup's limit
//! is what the kernel enforces (an OOM kill past it). So the default budget
//! is [`DEFAULT_SHARE`] of the smaller of the cgroup limit (v2
//! `memory.max`, else v1 `memory.limit_in_bytes`) and `MemTotal`, and
//! [`FALLBACK_BYTES`] where neither can be read (not Linux). The rest is
//! left to the calls themselves (each may grow to its memory cap), the
//! runtime and the kernel's page cache.

use std::path::Path;

/// Share of the memory limit the cache may hold by default.
pub const DEFAULT_SHARE: f64 = 0.25;

/// The budget when no memory limit can be read.
pub const FALLBACK_BYTES: u64 = 1 << 30;

/// cgroup v1 reports "no limit" as a huge number (a page-rounded
/// `i64::MAX`); anything past this is no limit.
const NO_LIMIT: u64 = 1 << 60;

/// Where the default budget came from, to say so at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The cgroup's memory limit.
    Cgroup(u64),
    /// The machine's `MemTotal`.
    MemTotal(u64),
    /// Neither could be read.
    Fallback,
}

/// The default budget and what it was derived from.
pub fn default_budget() -> (u64, Basis) {
    budget_from(cgroup_limit(Path::new("/")), mem_total(Path::new("/")))
}

/// [`DEFAULT_SHARE`] of the smaller known limit.
fn budget_from(cgroup: Option<u64>, mem_total: Option<u64>) -> (u64, Basis) {
    let basis = match (cgroup, mem_total) {
        (Some(c), Some(m)) if c < m => Basis::Cgroup(c),
        (Some(c), None) => Basis::Cgroup(c),
        (_, Some(m)) => Basis::MemTotal(m),
        (None, None) => Basis::Fallback,
    };
    let budget = match basis {
        Basis::Cgroup(limit) | Basis::MemTotal(limit) => (limit as f64 * DEFAULT_SHARE) as u64,
        Basis::Fallback => FALLBACK_BYTES,
    };
    (budget, basis)
}

/// The memory limit of this process's cgroup, if it has one; `root` is `/`
/// but for tests.
fn cgroup_limit(root: &Path) -> Option<u64> {
    let read = |path: &Path| std::fs::read_to_string(root.join(path)).ok();
    let own = read(Path::new("proc/self/cgroup")).unwrap_or_default();
    // v2: one line `0::/path`; the limit is `memory.max` in that folder
    // (`max`: none). In a container the path is usually `/`.
    let v2 = own.lines().find_map(|line| line.strip_prefix("0::")).unwrap_or("/");
    let v2_dir = Path::new("sys/fs/cgroup").join(v2.trim_start_matches('/'));
    // v1: `N:memory:/path`, under `sys/fs/cgroup/memory/`; in a container
    // the folder seen is usually the cgroup's own, at the top.
    let v1 = own.lines().find_map(|line| line.split_once(":memory:").map(|(_, path)| path)).unwrap_or("/");
    let v1_dir = Path::new("sys/fs/cgroup/memory").join(v1.trim_start_matches('/'));
    [
        v2_dir.join("memory.max"),
        Path::new("sys/fs/cgroup/memory.max").to_path_buf(),
        v1_dir.join("memory.limit_in_bytes"),
        Path::new("sys/fs/cgroup/memory/memory.limit_in_bytes").to_path_buf(),
    ]
    .iter()
    .find_map(|path| {
        // `max` in one file (no limit there) must not hide a limit in the next.
        read(path)
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|&limit| limit > 0 && limit < NO_LIMIT)
    })
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn mem_total(root: &Path) -> Option<u64> {
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).ok()?;
    let kib = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kib| kib << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder standing for `/`, removed on drop.
    struct FakeRoot(std::path::PathBuf);

    impl FakeRoot {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fake_root(files: &[(&str, &str)]) -> FakeRoot {
        let root = FakeRoot(std::env::temp_dir().join(format!("faas-budget-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(root.path()).unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    const MEMINFO: &str = "MemTotal:       16777216 kB\nMemFree:  1 kB\n";

    #[test]
    fn a_cgroup_v2_limit_below_the_machine_sets_the_budget() {
        let root = fake_root(&[
            ("proc/self/cgroup", "0::/pod/executor\n"),
            ("sys/fs/cgroup/pod/executor/memory.max", "2147483648\n"),
            ("proc/meminfo", MEMINFO),
        ]);
        let (cgroup, total) = (cgroup_limit(root.path()), mem_total(root.path()));
        assert_eq!((cgroup, total), (Some(2 << 30), Some(16 << 30)));
        assert_eq!(budget_from(cgroup, total), (512 << 20, Basis::Cgroup(2 << 30)));
    }

    #[test]
    fn no_cgroup_limit_means_a_quarter_of_mem_total() {
        let root = fake_root(&[
            ("proc/self/cgroup", "0::/\n"),
            ("sys/fs/cgroup/memory.max", "max\n"),
            ("proc/meminfo", MEMINFO),
        ]);
        assert_eq!(cgroup_limit(root.path()), None);
        assert_eq!(budget_from(None, mem_total(root.path())), (4 << 30, Basis::MemTotal(16 << 30)));
    }

    #[test]
    fn cgroup_v1_limits_count_and_its_no_limit_value_does_not() {
        let limited = fake_root(&[
            ("proc/self/cgroup", "4:memory:/docker/abc\n0::/\n"),
            ("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "1073741824\n"),
        ]);
        assert_eq!(cgroup_limit(limited.path()), Some(1 << 30));
        let unlimited = fake_root(&[
            ("proc/self/cgroup", "4:memory:/\n"),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        assert_eq!(cgroup_limit(unlimited.path()), None);
    }

    #[test]
    fn nothing_readable_falls_back() {
        let root = fake_root(&[]);
        assert_eq!(
            budget_from(cgroup_limit(root.path()), mem_total(root.path())),
            (FALLBACK_BYTES, Basis::Fallback)
        );
    }
}

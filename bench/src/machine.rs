//! What a result was measured on: code version, build profile, machine, time.
//!
//! Figures are only comparable between runs on the same commit, profile and
//! hardware, so every result file starts with them.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Where and when a run happened.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// `git rev-parse --short HEAD`, with `-dirty` if the tree has changes.
    pub commit: String,
    /// The short commit alone, for file names.
    pub short_commit: String,
    /// Start of the run, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_utc: String,
    /// `YYYY-MM-DD` of the start, for file names.
    pub date_utc: String,
    /// Cargo profile of this binary and the services.
    pub profile: String,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// `MemTotal` from `/proc/meminfo`, in MiB.
    pub memory_mib: Option<u64>,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `KEY=VALUE` settings given to every service with `--service-env`
    /// (none: the services' defaults, as measured for the record).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_env: Vec<String>,
}

/// Collects [`RunInfo`]; `repo` is the repository root, for git.
pub fn collect(repo: &Path) -> RunInfo {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let short_commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    // The bench rewrites the tracked `bench/results/latest*.md` itself: those
    // do not make the code measured differ from the commit.
    let dirty =
        git(&["status", "--porcelain", "--", ".", ":(exclude)bench/results"]).is_some_and(|s| !s.is_empty());
    let commit = if dirty { format!("{short_commit}-dirty") } else { short_commit.clone() };

    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (date_utc, started_utc) = utc(secs);

    let profile = if cfg!(debug_assertions) {
        "dev (Cargo's debug profile as `cargo build` makes it: every dependency, Wasmtime and Cranelift included, \
         and the services' crates (api, executor, dispatcher, bus, protocol) at opt-level 3, the other workspace \
         crates at 1)"
    } else {
        "release"
    };

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_mib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned());

    RunInfo {
        commit,
        short_commit,
        started_utc,
        date_utc,
        profile: profile.to_owned(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        memory_mib,
        cpu_model,
        service_env: Vec::new(),
    }
}

/// `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM:SSZ` of a Unix time; a calendar crate
/// for one date is more than this needs.
fn utc(secs: u64) -> (String, String) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let time = format!("{date}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60);
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(0).1, "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400).0, "2000-02-29");
        assert_eq!(utc(1_767_225_599).1, "2025-12-31T23:59:59Z");
    }
}

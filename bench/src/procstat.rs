//! Memory and CPU time of a process, from Linux's `/proc`.
//!
//! Reading `/proc` needs no privileges and no unsafe `libc` calls, and sees
//! the service binaries exactly as they run, which is what the figures are
//! about.

use std::process::Command;

use anyhow::{Context as _, anyhow};

/// Resident memory of a process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident, in KiB.
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| anyhow!("{path} has no {name}"))?;
        // "VmRSS:\t   12345 kB"
        line.trim_start_matches(':')
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("unreadable {name} in {path}: {line:?}"))
    };
    Ok(Memory { rss_kib: field("VmRSS")?, hwm_kib: field("VmHWM")? })
}

/// User plus system CPU time `pid` has used, in clock ticks (fields 14
/// and 15 of `/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let [utime, stime] = stat_fields(pid, [14, 15])?;
    Ok(utime + stime)
}

/// Minor page faults `pid` has taken (field 10 of `/proc/<pid>/stat`):
/// pages mapped in on first touch, e.g. a linear memory's copy-on-write image.
pub fn minor_faults(pid: u32) -> anyhow::Result<u64> {
    let [faults] = stat_fields(pid, [10])?;
    Ok(faults)
}

/// The numeric fields `indexes` (1-based, as in proc(5)) of `/proc/<pid>/stat`.
fn stat_fields<const N: usize>(pid: u32, indexes: [usize; N]) -> anyhow::Result<[u64; N]> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // The command name (field 2) is in parentheses and may contain spaces,
    // so fields are counted from after its closing one: field 3 comes first.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("unreadable {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let mut values = [0; N];
    for (value, index) in values.iter_mut().zip(indexes) {
        *value = fields
            .get(index - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("unreadable field {index} of {path}"))?;
    }
    Ok(values)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 if that cannot be asked.
///
/// `sysconf` would need `libc` and unsafe code; the value is 100 on every
/// mainstream Linux, and one process spawn settles it.
pub fn clock_ticks_per_second() -> u64 {
    // Asked once: every phase of every watched process reads it.
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(ask_clock_ticks)
}

fn ask_clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let mem = memory(me).unwrap();
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib);
        cpu_ticks(me).unwrap();
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn counts_the_pages_this_process_touches() {
        let me = std::process::id();
        let before = minor_faults(me).unwrap();
        // 16 MiB written: a fresh mapping, one fault per 4 KiB page (or per
        // huge page where the kernel gives them), far above any other
        // thread's faults meanwhile.
        let touched = vec![1u8; 16 << 20];
        let after = minor_faults(me).unwrap();
        assert_eq!(touched.iter().map(|&b| u64::from(b)).sum::<u64>(), 16 << 20);
        assert!(after >= before + 8, "{before} -> {after} minor faults for 16 MiB");
    }
}

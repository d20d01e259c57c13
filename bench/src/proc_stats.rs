//! What a process has used, read from `/proc`: CPU time (user + system) and
//! resident memory. Read for every process of a run, the bench's own included,
//! so a saturated client is never mistaken for a slow server.

use std::time::Duration;

use anyhow::Context;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User plus system time so far.
    pub cpu: Duration,
    /// Resident set size, in bytes.
    pub rss: u64,
}

/// The usage of process `pid` now.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a /proc stat line")?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15: 11th and 12th after the name.
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields.get(index).context("a stat field")?.parse()?)
    };
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .context("VmRSS in /proc status")?
        .parse()?;
    Ok(Usage {
        cpu: Duration::from_millis(cpu_ticks * 1000 / TICKS_PER_SECOND),
        rss: rss_kb * 1024,
    })
}

/// This process's usage.
pub fn own_usage() -> anyhow::Result<Usage> {
    usage(std::process::id())
}

/// Raises this process's soft limit on open files to its hard limit (children
/// inherit it): holding tens of thousands of connections needs as many.
pub fn raise_open_files() -> anyhow::Result<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_usage() {
        let usage = own_usage().expect("usage");
        assert!(usage.rss > 1024 * 1024);
    }
}

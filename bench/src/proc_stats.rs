//! What a process has used, read from `/proc`: CPU time (user + system) and
//! resident memory. Read for every process of a run, the bench's own included,
//! so a saturated client is never mistaken for a slow server.

use std::time::{Duration, Instant};

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
    /// Context switches of its threads so far, voluntary and not: about one per wake-up.
    pub switches: u64,
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
    // A process's own status counts its main thread only: sum every thread's.
    let switches = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter_map(|line| {
                    line.strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                })
                .filter_map(|value| value.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    Ok(Usage {
        cpu: Duration::from_millis(cpu_ticks * 1000 / TICKS_PER_SECOND),
        rss: rss_kb * 1024,
        switches,
    })
}

/// This process's usage.
pub fn own_usage() -> anyhow::Result<Usage> {
    usage(std::process::id())
}

/// A process whose usage a phase reports.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl Watched {
    pub fn new(name: impl Into<String>, pid: u32) -> Self {
        Self {
            name: name.into(),
            pid,
        }
    }
}

/// Usage of each watched process (and the bench, as `client`) at the start of a phase.
#[derive(Debug)]
pub struct Phase {
    started: Instant,
    at_start: Vec<(String, Usage)>,
}

/// The CPU each process used during a phase, as shares of one core (1.0: a whole core).
#[derive(Debug, Clone, Default)]
pub struct CpuShares {
    pub elapsed: Duration,
    pub shares: Vec<(String, f64)>,
    /// Context switches of each process's threads during the phase.
    pub switches: Vec<(String, u64)>,
}

impl CpuShares {
    /// The share of process `name`, 0 if it was not watched.
    pub fn of(&self, name: &str) -> f64 {
        self.shares
            .iter()
            .find(|(watched, _)| watched == name)
            .map_or(0.0, |(_, share)| *share)
    }

    /// The sum over every process but the client.
    pub fn servers(&self) -> f64 {
        self.shares
            .iter()
            .filter(|(name, _)| name != "client")
            .map(|(_, share)| share)
            .sum()
    }
}

impl std::fmt::Display for CpuShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shares: Vec<String> = self
            .shares
            .iter()
            .map(|(name, share)| format!("{name} {:.0}%", 100.0 * share))
            .collect();
        write!(f, "{}", shares.join(", "))
    }
}

impl Phase {
    pub fn start(watched: &[Watched]) -> anyhow::Result<Self> {
        let mut at_start = vec![("client".to_owned(), own_usage()?)];
        for process in watched {
            at_start.push((process.name.clone(), usage(process.pid)?));
        }
        Ok(Self {
            started: Instant::now(),
            at_start,
        })
    }

    /// The CPU each process used since the start.
    pub fn end(self, watched: &[Watched]) -> anyhow::Result<CpuShares> {
        let elapsed = self.started.elapsed();
        let mut now = vec![own_usage()?];
        for process in watched {
            now.push(usage(process.pid)?);
        }
        let mut shares = Vec::new();
        let mut switches = Vec::new();
        for ((name, before), after) in self.at_start.into_iter().zip(now) {
            let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
            shares.push((name.clone(), cpu / elapsed.as_secs_f64().max(f64::EPSILON)));
            switches.push((name, after.switches.saturating_sub(before.switches)));
        }
        Ok(CpuShares {
            elapsed,
            shares,
            switches,
        })
    }
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

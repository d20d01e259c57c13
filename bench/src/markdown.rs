//! The measured part of `BENCHMARKS.md`: written between two markers, so the
//! analysis written by hand around it survives every run.

use std::fmt::Write;
use std::path::Path;

use crate::hist::{Summary, ms};
use crate::proc_stats::CpuShares;
use crate::run::{Measured, P99_BOUND, Results, ratio};

pub const BEGIN: &str = "<!-- herald-bench: measured, begin (written by ./task bench) -->";
pub const END: &str = "<!-- herald-bench: measured, end -->";

/// `existing` (the file as it is, if any) with its measured part replaced by
/// this run's, or a new file holding only that part.
pub async fn report(results: &Results, plot: &Path, existing: Option<&str>) -> String {
    splice(existing, &measured(results, plot).await)
}

/// `existing` with what lies between the markers replaced by `measured` (which
/// carries the markers itself).
fn splice(existing: Option<&str>, measured: &str) -> String {
    match existing.and_then(|text| Some((text, text.find(BEGIN)?, text.find(END)?))) {
        Some((text, begin, end)) if begin < end => {
            format!("{}{measured}{}", &text[..begin], &text[end + END.len()..])
        }
        _ => format!("# Benchmarks\n\n{measured}\n"),
    }
}

fn cells(summary: &Summary) -> String {
    format!(
        "{} | {} | {} | {} | {}",
        ms(summary.p50),
        ms(summary.p90),
        ms(summary.p99),
        ms(summary.p999),
        ms(summary.max)
    )
}

fn cpu_cells(cpu: &CpuShares) -> String {
    ["nats-server", "api", "reactor", "client"]
        .iter()
        .map(|name| format!("{:.0}%", cpu.of(name) * 100.0))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Core-seconds the three servers spent per 1,000 commands.
fn per_thousand(cpu: &CpuShares, rate: f64) -> f64 {
    cpu.servers() / (rate / 1000.0).max(1e-9)
}

async fn measured(results: &Results, plot: &Path) -> String {
    let floor = results.floor_p50();
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n");
    let _ = writeln!(
        out,
        "Run `{}` of {}, on {}.\n",
        results.plan.name,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine()
    );
    let _ = writeln!(out, "Versions: {}.\n", versions().await);
    let _ = writeln!(
        out,
        "nats-server (JetStream, file storage, one replica), the api and the reactor (release \
         builds, logging at `RUST_LOG=warn`: no line per request) run as separate processes; the \
         client is `herald-bench`: one pooled HTTP/1.1 client (reqwest on hyper, keep-alive, `TCP_NODELAY`), bodies read whole. CPU is each process's \
         user + system time from `/proc` over the phase, as a share of one core (the machine has {} \
         cores). The floor is Herald's chain done straight on NATS in the same nats-server: a \
         JetStream publish awaited for its ack, a pull consumer that puts the message in a KV \
         bucket, publishes on a core subject and acks, a subscriber that hears it (its consumer \
         runs in the client's process). It runs before and after Herald's figures; ratios use the \
         lower of its two p50s.\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let _ = writeln!(
        out,
        "## One at a time, and {} in flight\n",
        results.plan.in_flight
    );
    let _ = writeln!(
        out,
        "| figure | p50 | p90 | p99 | p99.9 | max | p50 / floor | rate | nats-server | api | reactor | client |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut row = |what: &str, measured: &Measured, compare: bool| {
        let summary = measured.latencies.summary();
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} |",
            cells(&summary),
            if compare {
                ratio(summary.p50, floor)
            } else {
                "—".into()
            },
            measured
                .rate
                .map_or("—".into(), |rate| format!("{rate:.0}/s")),
            cpu_cells(&measured.cpu)
        );
    };
    let in_flight = results.plan.in_flight;
    row("floor, one at a time", &results.floor_sequential[0], false);
    row(
        &format!("floor, {in_flight} in flight"),
        &results.floor_in_flight[0],
        false,
    );
    row(
        "Herald POST → SSE `completed`, one at a time",
        &results.sse_sequential,
        true,
    );
    row(
        "Herald POST `Prefer: wait` → `201`, one at a time",
        &results.wait_sequential,
        true,
    );
    row(
        &format!("Herald POST → SSE, {in_flight} in flight"),
        &results.sse_in_flight,
        false,
    );
    row(
        "floor again, one at a time",
        &results.floor_sequential[1],
        false,
    );
    row(
        &format!("floor again, {in_flight} in flight"),
        &results.floor_in_flight[1],
        false,
    );

    let _ = writeln!(out, "\n## Open loop\n");
    let _ = writeln!(
        out,
        "Commands started at a fixed rate for {} s each, POST then the command's event stream, \
         latency counted from each command's scheduled start (no coordinated omission). The rate \
         steps up until a command fails or the p99 passes {} ms.\n",
        results.plan.step_for.as_secs(),
        P99_BOUND.as_millis()
    );
    let _ = writeln!(
        out,
        "| rate | p50 | p90 | p99 | p99.9 | max | completed/s | all completed, p99 ≤ {} ms | nats-server | api | reactor | client | servers' core-s per 1,000 commands |",
        P99_BOUND.as_millis()
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (step, cpu) in &results.steps {
        let _ = writeln!(
            out,
            "| {}/s | {} | {:.0} | {} | {} | {:.2} |",
            step.rate,
            cells(&step.latencies.summary()),
            step.completed_per_second,
            if step.kept_up(P99_BOUND) {
                "yes".to_owned()
            } else {
                // What failed or never finished is not in the percentiles.
                let bounds = if step.failed + step.unfinished > 0 {
                    "; its percentiles are lower bounds"
                } else {
                    ""
                };
                format!(
                    "no ({} failed, {} unfinished{bounds})",
                    step.failed, step.unfinished
                )
            },
            cpu_cells(cpu),
            per_thousand(cpu, f64::from(step.rate))
        );
    }
    match results.highest_rate() {
        Some((step, _)) => {
            let _ = writeln!(
                out,
                "\nHighest rate with every command completed and p99 ≤ {} ms: **{}/s**.",
                P99_BOUND.as_millis(),
                step.rate
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nNo rate kept the p99 within {} ms.",
                P99_BOUND.as_millis()
            );
        }
    }

    if let Some((step, cpu)) = results.steps.first() {
        let commands = step.latencies.len().max(1) as f64;
        let _ = writeln!(out, "\n### Per command, at {}/s\n", step.rate);
        let _ = writeln!(
            out,
            "What each process spent per command during the first step: CPU, context switches (about one per wake-up, every thread counted) and, for Herald's processes, messages to and from nats-server (the monitoring endpoint's counts).\n"
        );
        let _ = writeln!(
            out,
            "| process | CPU per command | context switches per command | NATS messages sent · received per command |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for (name, share) in &cpu.shares {
            let switches = cpu
                .switches
                .iter()
                .find(|(process, _)| process == name)
                .map_or(0, |(_, switches)| *switches);
            let messages = results
                .nats_messages
                .iter()
                .find(|(connection, _, _)| connection == &format!("herald-{name}"))
                .map_or("—".to_owned(), |(_, from, to)| {
                    format!("{from:.2} · {to:.2}")
                });
            let _ = writeln!(
                out,
                "| {name} | {:.0} µs | {:.1} | {messages} |",
                share * cpu.elapsed.as_secs_f64() / commands * 1e6,
                switches as f64 / commands
            );
        }
    }

    let polled = results.polling.latencies.summary();
    let sse = results.sse_sequential.latencies.summary();
    let _ = writeln!(out, "\n## What SSE saves over polling\n");
    let _ = writeln!(
        out,
        "A client without SSE POSTs, then `GET /api/commands/{{id}}` every {} ms until it is not \
         `pending` ({} commands, one at a time).\n",
        crate::client::POLL_INTERVAL.as_millis(),
        polled.count
    );
    let _ = writeln!(out, "| client | p50 | p99 | requests per command |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| POST, then polling | {} | {} | {:.1} |",
        ms(polled.p50),
        ms(polled.p99),
        1.0 + results.polls_per_command
    );
    let _ = writeln!(
        out,
        "| POST, then its event stream | {} | {} | 2 |",
        ms(sse.p50),
        ms(sse.p99)
    );
    let _ = writeln!(
        out,
        "| POST with `Prefer: wait` | {} | {} | 1 |",
        ms(results.wait_sequential.latencies.summary().p50),
        ms(results.wait_sequential.latencies.summary().p99)
    );
    let _ = writeln!(out, "\n![Latency CDF]({})\n\n{END}", plot.display());
    out
}

/// CPU model, cores, memory and kernel, from `/proc`.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map_or("an unknown CPU".to_owned(), |model| model.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    let kernel = read("/proc/sys/kernel/osrelease");
    format!(
        "{model}, {cores} cores, {memory_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

/// The first line `program args` prints, or `unknown`.
async fn first_line(program: &Path, args: &[&str]) -> String {
    match tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("unknown")
            .trim()
            .to_owned(),
        Err(_) => "unknown".to_owned(),
    }
}

async fn versions() -> String {
    let nats = first_line(&herald_testkit::nats_server::find_binary(), &["--version"]).await;
    let rustc = first_line(Path::new("rustc"), &["--version"]).await;
    let commit = first_line(Path::new("git"), &["rev-parse", "--short", "HEAD"]).await;
    let dirty = tokio::process::Command::new("git")
        .args(["diff", "--quiet", "HEAD"])
        .status()
        .await
        .is_ok_and(|status| !status.success());
    format!(
        "Herald {} (commit {commit}{}), {nats}, {rustc}",
        env!("CARGO_PKG_VERSION"),
        if dirty {
            ", with uncommitted changes"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_replaces_only_what_lies_between_the_markers() {
        let old = format!("# B\n\nintro\n\n{BEGIN}\nold table\n{END}\n\nanalysis\n");
        let new = splice(Some(&old), &format!("{BEGIN}\nnew table\n{END}"));
        assert_eq!(
            new,
            format!("# B\n\nintro\n\n{BEGIN}\nnew table\n{END}\n\nanalysis\n")
        );
        let fresh = splice(None, &format!("{BEGIN}\nt\n{END}"));
        assert!(fresh.starts_with("# Benchmarks") && fresh.contains("\nt\n"));
    }
}

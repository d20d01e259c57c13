//! Faults under load on a three-node cluster: each scenario must end with every
//! command accepted, completed once, and its client told.
//!
//! Run with `./task test:cluster` (it builds the binaries first, and runs one
//! scenario at a time: each is a cluster and five processes on a small machine).
//! Each prints its report and how long the cluster and Herald took to recover;
//! the README's recovery table comes from these lines.

use std::time::Duration;

use herald_system_tests::report::PROMPT;
use herald_system_tests::{Load, Report, System};
use herald_testkit::{PATIENCE, eventually};
use tokio::time::Instant;

/// Commands a second: enough that every fault lands on commands in flight.
const RATE: u32 = 200;
/// How long the load runs before a fault, and after the last one.
const STEADY: Duration = Duration::from_secs(3);
/// How long a stream may take to elect a new leader.
const ELECTION: Duration = Duration::from_secs(30);

/// A fault struck at `at`; `election` is how long NATS took to elect new
/// leaders for what it struck (the stream, and the reactors' consumer when the
/// node led it too), if it struck a leader.
struct Fault {
    what: String,
    at: Instant,
    election: Option<Duration>,
    /// How long until everything the node led had a new leader.
    elections: Option<Duration>,
}

impl Fault {
    fn now(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            at: Instant::now(),
            election: None,
            elections: None,
        }
    }
}

/// What node `leader` leads, and of that what concerns `stream`: the stream,
/// and its consumers (whose election holds up delivery as much as the stream's).
async fn concerned(system: &System, leader: usize, stream: &str) -> (Vec<String>, Vec<String>) {
    let led = system.cluster.led_by(leader).await;
    let concerned = led
        .iter()
        .filter(|group| *group == stream || group.starts_with(&format!("{stream} > ")))
        .cloned()
        .collect();
    (led, concerned)
}

/// Lets the load run on, stops it, counts, and prints the report and each
/// fault's recovery beside NATS's own election.
async fn settle(system: &System, load: Load, scenario: &str, faults: &[Fault]) -> Report {
    tokio::time::sleep(STEADY).await;
    let sent = load.stop().await;
    let report = Report::gather(system, &sent).await;
    println!("{scenario}: {report}");
    let late = sent.iter().filter(|command| {
        let waited = command
            .told
            .as_ref()
            .zip(command.accepted_at)
            .map(|((_, _, told), accepted)| *told - accepted);
        waited.is_some_and(|waited| waited > PROMPT)
    });
    let start = sent.first().map(|command| command.sent_at);
    for command in late.take(5) {
        let since = |at: Instant| at - start.unwrap_or(at);
        println!(
            "{scenario}: late: {:?} accepted by api {:?} at {:.1?}, streams {:?}, told at {:.1?}",
            command.id,
            command.accepted_by,
            command.accepted_at.map(since),
            command
                .streams
                .iter()
                .map(|(api, at)| (api, since(*at)))
                .collect::<Vec<_>>(),
            command.told.as_ref().map(|(_, _, at)| since(*at)),
        );
    }
    system.save_nats_logs();
    println!("{scenario}: logs in {}", system.log_folder().display());
    for fault in faults {
        let recovery = Report::recovery(&sent, fault.at).map_or("never".to_owned(), |took| {
            format!("{:.1} s", took.as_secs_f64())
        });
        let seconds = |took: Option<Duration>| {
            took.map_or("-".to_owned(), |took| {
                format!("{:.1} s", took.as_secs_f64())
            })
        };
        let election = match fault.election {
            Some(_) => format!(
                ", NATS re-elected it in {}, all the node led in {}",
                seconds(fault.election),
                seconds(fault.elections)
            ),
            None => String::new(),
        };
        println!(
            "{scenario}: {}: Herald recovered in {recovery}{election}",
            fault.what
        );
    }
    assert!(
        report.is_sound(),
        "{scenario}: {report}\n\nlogs:\n{}",
        system.logs()
    );
    report
}

/// The leader of the command stream dies, comes back; then the leader of the
/// statuses bucket does. Publishes and the reactor's writes wait for the new
/// leaders and go on; nothing accepted is lost, nothing is done twice.
#[tokio::test]
async fn stream_leaders_die_one_after_the_other() {
    let mut system = System::start(2, 3).await;
    let load = Load::start(&system, RATE);
    let mut faults = Vec::new();
    for stream in ["COMMANDS", "KV_commands"] {
        tokio::time::sleep(STEADY).await;
        let leader = eventually(PATIENCE, "a leader", || system.cluster.leader_of(stream)).await;
        let (led, concerned) = concerned(&system, leader, stream).await;
        let mut fault = Fault::now(format!(
            "{stream}'s leader killed (it led {})",
            led.join(", ")
        ));
        system.cluster.kill(leader).await;
        fault.election = Some(
            system
                .reelected(&concerned, leader, fault.at, ELECTION)
                .await,
        );
        fault.elections = Some(system.reelected(&led, leader, fault.at, ELECTION).await);
        faults.push(fault);
        tokio::time::sleep(STEADY).await;
        system.cluster.restart(leader).await;
    }
    settle(&system, load, "stream leaders killed", &faults).await;
}

/// The statuses bucket's leader freezes for ten seconds (SIGSTOP: a stalled
/// machine, not a dead one): its connections stay open and answer nothing.
/// The others elect a leader; when it wakes it finds itself a follower.
#[tokio::test]
async fn a_leader_stalls_for_ten_seconds() {
    let system = System::start(2, 3).await;
    let load = Load::start(&system, RATE);
    tokio::time::sleep(STEADY).await;
    let stream = "KV_commands";
    let leader = eventually(PATIENCE, "a leader", || system.cluster.leader_of(stream)).await;
    let (led, concerned) = concerned(&system, leader, stream).await;
    let mut fault = Fault::now(format!(
        "{stream}'s leader frozen (it led {})",
        led.join(", ")
    ));
    system.cluster.freeze(leader);
    fault.election = Some(
        system
            .reelected(&concerned, leader, fault.at, ELECTION)
            .await,
    );
    fault.elections = Some(system.reelected(&led, leader, fault.at, ELECTION).await);
    tokio::time::sleep_until(fault.at + Duration::from_secs(10)).await;
    system.cluster.thaw(leader);
    settle(&system, load, "a leader frozen for 10 s", &[fault]).await;
}

/// An api dies (SIGKILL) with POSTs in flight and streams open: retried POSTs
/// land on the other api with their key and are stored once; the streams come
/// back to the other api and are told.
#[tokio::test]
async fn an_api_dies_mid_request() {
    let mut system = System::start(2, 3).await;
    let load = Load::start(&system, RATE);
    tokio::time::sleep(STEADY).await;
    let fault = Fault::now("api 0 killed, back after 3 s");
    system.kill_api(0).await;
    tokio::time::sleep(STEADY).await;
    system.restart_api(0).await;
    settle(&system, load, "an api killed", &[fault]).await;
}

/// Reactors die again and again (SIGKILL) with commands half-projected: what a
/// dead one held comes back after the ack wait, to another, and is finished
/// from where it stopped.
#[tokio::test]
async fn reactors_die_again_and_again() {
    let mut system = System::start(2, 3).await;
    let load = Load::start(&system, RATE);
    let mut faults = Vec::new();
    for round in 0..6 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reactor = round % 3;
        faults.push(Fault::now(format!(
            "reactor {reactor} killed, back after 0.5 s"
        )));
        system.kill_reactor(reactor).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        system.restart_reactor(reactor);
    }
    settle(&system, load, "reactors killed six times", &faults).await;
}

/// Every node dies at once and comes back with its store: Herald waits it out,
/// the apis answer 503 meanwhile, and every command retried gets through.
#[tokio::test]
async fn the_whole_cluster_restarts() {
    let mut system = System::start(2, 3).await;
    let load = Load::start(&system, RATE);
    tokio::time::sleep(STEADY).await;
    for node in 0..system.cluster.len() {
        system.cluster.kill(node).await;
    }
    let fault = Fault::now("every node killed and restarted");
    for node in 0..system.cluster.len() {
        system.cluster.restart(node).await;
    }
    settle(&system, load, "the whole cluster restarted", &[fault]).await;
}

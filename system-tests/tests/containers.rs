//! The container files and the README agree with the binaries. No container
//! engine runs here, so what can be checked without one is: every variable the
//! compose file sets is one a binary reads (`--help` lists them all), ports and
//! health checks point where the processes listen and answer, and the README's
//! settings are exactly the binaries'.

use std::collections::BTreeSet;
use std::path::PathBuf;

use herald_system_tests::system::binary;
use yaml_rust2::{Yaml, YamlLoader};

fn repository(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(file)
}

/// The environment variables `name --help` says the binary reads.
fn variables(name: &str) -> BTreeSet<String> {
    let help = std::process::Command::new(binary(name))
        .arg("--help")
        .output()
        .expect("--help");
    assert!(help.status.success());
    String::from_utf8_lossy(&help.stdout)
        .split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.split(['=', ']'])
                .next()
                .expect("a variable name")
                .to_owned()
        })
        .collect()
}

/// Read by the logging library rather than declared as a flag.
const ALSO_READ: &[&str] = &["RUST_LOG"];

fn compose() -> Yaml {
    let text = std::fs::read_to_string(repository("docker-compose.yml")).expect("the compose file");
    YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .into_iter()
        .next()
        .expect("one document")
}

fn port_of(address: &str) -> &str {
    address.rsplit(':').next().expect("host:port")
}

/// The URL a service's health check fetches.
fn health_url(service: &Yaml) -> String {
    let test = service["healthcheck"]["test"]
        .as_vec()
        .expect("a health check as a list");
    test.iter()
        .filter_map(Yaml::as_str)
        .find(|word| word.starts_with("http://"))
        .expect("a URL")
        .to_owned()
}

#[test]
fn every_variable_the_compose_file_sets_is_one_a_binary_reads() {
    let compose = compose();
    for name in ["api", "reactor"] {
        let service = &compose["services"][name];
        assert_eq!(service["command"][0].as_str(), Some(name));
        let known = variables(name);
        let environment = service["environment"].as_hash().expect("an environment");
        for key in environment.keys().filter_map(Yaml::as_str) {
            assert!(
                known.contains(key) || ALSO_READ.contains(&key),
                "{name} does not read {key} (it reads {known:?})"
            );
        }
        assert_eq!(
            service["restart"].as_str(),
            Some("unless-stopped"),
            "{name}"
        );
        assert_eq!(
            service["depends_on"]["nats"]["condition"].as_str(),
            Some("service_healthy")
        );
    }
}

#[test]
fn ports_and_health_checks_point_where_the_processes_listen() {
    let compose = compose();
    let api = &compose["services"]["api"];
    let listen = api["environment"]["HTTP_ADDR"].as_str().expect("HTTP_ADDR");
    let published = api["ports"][0].as_str().expect("a published port");
    assert_eq!(published.rsplit(':').next(), Some(port_of(listen)));
    assert_eq!(
        health_url(api),
        format!("http://127.0.0.1:{}/readyz", port_of(listen))
    );

    let reactor = &compose["services"]["reactor"];
    let metrics = reactor["environment"]["METRICS_ADDR"]
        .as_str()
        .expect("METRICS_ADDR");
    assert_eq!(
        health_url(reactor),
        format!("http://127.0.0.1:{}/metrics", port_of(metrics))
    );

    let nats = &compose["services"]["nats"];
    let command: Vec<&str> = nats["command"]
        .as_vec()
        .expect("a command")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(command.contains(&"-js"), "JetStream on");
    let monitor = command[command.iter().position(|word| *word == "-m").expect("-m") + 1];
    assert!(health_url(nats).starts_with(&format!("http://127.0.0.1:{monitor}/healthz")));
    let volume = nats["volumes"][0].as_str().expect("a data volume");
    let store = command[command.iter().position(|word| *word == "-sd").expect("-sd") + 1];
    assert!(
        volume.ends_with(&format!(":{store}")),
        "{volume} holds {store}"
    );
}

#[test]
fn the_image_runs_as_a_user_with_a_health_check_where_the_api_listens() {
    let dockerfile = std::fs::read_to_string(repository("Dockerfile")).expect("the Dockerfile");
    let last = |instruction: &str| {
        dockerfile
            .lines()
            .rfind(|line| line.starts_with(instruction))
            .unwrap_or_else(|| panic!("no {instruction}"))
            .to_owned()
    };
    let user = last("USER ");
    assert!(!user.contains("root") && user != "USER 0", "{user}");
    let listen = last("ENV HTTP_ADDR=");
    let port = port_of(&listen);
    assert_eq!(last("EXPOSE "), format!("EXPOSE {port}"));
    let check = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .expect("a HEALTHCHECK");
    assert!(
        check.contains(&format!("http://127.0.0.1:{port}/readyz")),
        "{check}"
    );
}

#[test]
fn the_readme_lists_exactly_the_settings_the_binaries_read() {
    let readme = std::fs::read_to_string(repository("README.md")).expect("the README");
    let table = readme
        .split("### Settings")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("a Settings section");
    let documented: BTreeSet<String> = table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .flat_map(|line| {
            line.split('|')
                .nth(1)
                .unwrap_or_default()
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let read: BTreeSet<String> = variables("api")
        .union(&variables("reactor"))
        .cloned()
        .chain(ALSO_READ.iter().map(|name| (*name).to_owned()))
        .collect();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in the README: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "in the README but read by nothing: {unknown:?}"
    );
}

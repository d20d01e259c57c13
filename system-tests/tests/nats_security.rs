//! A NATS that wants credentials, or TLS: every way Herald can be configured to
//! authenticate, against nats-servers started with each (keys and certificates
//! made here), and what a wrong secret does. Secrets never show.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use herald_runtime::connection::{NatsConfig, Secret};
use herald_system_tests::system::binary;
use herald_testkit::nats_server::free_port;
use herald_testkit::{NatsServer, PATIENCE, eventually};

/// Connects as `config` says; whether the connection was made within a few seconds.
async fn connects(config: &NatsConfig) -> bool {
    let Ok(client) = config.connect("herald-test", |_| {}).await else {
        return false;
    };
    let connected = tokio::time::timeout(Duration::from_secs(5), async {
        while client.connection_state() != async_nats::connection::State::Connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok();
    connected && client.flush().await.is_ok()
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

#[tokio::test]
async fn user_and_password() {
    let nats = NatsServer::start_with(|_| args(&["--user", "herald", "--pass", "s3cret-pw"])).await;
    let mut config = NatsConfig::at(nats.url());
    assert!(!connects(&config).await, "no credentials, no connection");
    config.user = Some("herald".into());
    config.password = Some(Secret::new("s3cret-pw"));
    assert!(connects(&config).await);
    assert!(
        !format!("{config:?}").contains("s3cret-pw"),
        "Debug shows no secret"
    );
}

#[tokio::test]
async fn token() {
    let nats = NatsServer::start_with(|_| args(&["--auth", "t0ken-value"])).await;
    let mut config = NatsConfig::at(nats.url());
    config.token = Some(Secret::new("wrong"));
    assert!(!connects(&config).await);
    config.token = Some(Secret::new("t0ken-value"));
    assert!(connects(&config).await);
}

#[tokio::test]
async fn nkey_seed_file() {
    let user = nkeys::KeyPair::new_user();
    let seed_file = tempfile::NamedTempFile::new().expect("a seed file");
    std::fs::write(seed_file.path(), user.seed().expect("a seed")).expect("write the seed");
    let public = user.public_key();
    let nats = NatsServer::start_with(|dir| {
        let conf = dir.join("nkey.conf");
        std::fs::write(
            &conf,
            format!("authorization {{ users = [ {{ nkey: {public} }} ] }}\n"),
        )
        .expect("write the server's configuration");
        vec!["-c".into(), conf.display().to_string()]
    })
    .await;
    let mut config = NatsConfig::at(nats.url());
    config.nkey_file = Some(seed_file.path().to_owned());
    assert!(connects(&config).await);
    let stranger = nkeys::KeyPair::new_user();
    std::fs::write(seed_file.path(), stranger.seed().expect("a seed")).expect("write");
    assert!(!connects(&config).await, "an unknown key is refused");
}

/// A certificate authority, a server certificate for 127.0.0.1 and a client
/// certificate, as PEM files in `dir`: (ca, server cert, server key, client cert, client key).
fn certificates(dir: &Path) -> [std::path::PathBuf; 5] {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("the CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("a key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("a signed certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["herald-client".into()]);
    let files = [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert),
        ("server-key.pem", server_key),
        ("client.pem", client_cert),
        ("client-key.pem", client_key),
    ];
    files.map(|(name, pem)| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write a PEM file");
        path
    })
}

#[tokio::test]
async fn tls_with_a_custom_ca_and_a_client_certificate() {
    let pems = tempfile::tempdir().expect("a folder");
    let [ca, server_cert, server_key, client_cert, client_key] = certificates(pems.path());
    let nats = NatsServer::start_with(|dir| {
        let conf = dir.join("tls.conf");
        std::fs::write(
            &conf,
            format!(
                "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n",
                server_cert.display(),
                server_key.display(),
                ca.display()
            ),
        )
        .expect("write the server's configuration");
        vec!["-c".into(), conf.display().to_string()]
    })
    .await;
    let url = format!("tls://127.0.0.1:{}", nats.port());
    let mut config = NatsConfig::at(&url);
    config.tls_ca = Some(ca.clone());
    assert!(!connects(&config).await, "the server verifies clients");
    config.tls_cert = Some(client_cert);
    config.tls_key = Some(client_key);
    assert!(connects(&config).await);
    let mut unknown_ca = config.clone();
    unknown_ca.tls_ca = None;
    assert!(
        !connects(&unknown_ca).await,
        "a server signed by an unknown CA is refused"
    );
}

#[tokio::test]
async fn a_wrong_password_is_said_once_and_readiness_stays_503() {
    let nats = NatsServer::start_with(|_| args(&["--user", "herald", "--pass", "right-pw"])).await;
    let logs = tempfile::tempdir().expect("a folder");
    let log = logs.path().join("api.log");
    let address = format!("127.0.0.1:{}", free_port());
    let mut api = tokio::process::Command::new(binary("api"))
        .env("NATS_URL", nats.url())
        .env("NATS_USER", "herald")
        .env("NATS_PASSWORD", "wrong-pw")
        .env("HTTP_ADDR", &address)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("a log")))
        .kill_on_drop(true)
        .spawn()
        .expect("start the api");
    let http = reqwest::Client::new();
    let said = eventually(PATIENCE, "the refusal is logged", || async {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("NATS refused the credentials")
            .then_some(text)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = std::fs::read_to_string(&log).expect("the log");
    assert_eq!(
        text.matches("NATS refused the credentials").count(),
        1,
        "said once, not on every retry:\n{text}"
    );
    assert!(
        said.contains(&format!("127.0.0.1:{}", nats.port())),
        "names the server:\n{said}"
    );
    let ready = http
        .get(format!("http://{address}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let metrics = http
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for shown in [&text, &metrics, &ready.text().await.expect("body")] {
        assert!(!shown.contains("wrong-pw"), "a secret showed: {shown}");
    }
    api.kill().await.expect("stop the api");

    let help = std::process::Command::new(binary("api"))
        .arg("--help")
        .env("NATS_PASSWORD", "hidden-pw")
        .env("NATS_TOKEN", "hidden-token")
        .output()
        .expect("api --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("NATS_PASSWORD"), "{help}");
    assert!(
        !help.contains("hidden-pw") && !help.contains("hidden-token"),
        "{help}"
    );
}

/// A JWT as nsc would write one: `claims` for `subject`, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use data_encoding::BASE64URL_NOPAD;
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = serde_json::json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": 1_700_000_000,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let signature = issuer.sign(signed.as_bytes()).expect("a signature");
    format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature))
}

#[tokio::test]
async fn a_creds_file_in_operator_mode() {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "herald-operator",
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1
    });
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "herald",
        serde_json::json!({"limits": unlimited, "type": "account", "version": 2}),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "herald-api",
        serde_json::json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2
        }),
    );
    // JetStream (testkit starts every server with it) wants a system account.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"limits": unlimited, "type": "account", "version": 2}),
    );
    let (account_public, system_public) = (account.public_key(), system.public_key());
    let nats = NatsServer::start_with(|dir| {
        let conf = dir.join("operator.conf");
        std::fs::write(
            &conf,
            format!(
                "operator: \"{operator_jwt}\"\nsystem_account: {system_public}\nresolver: MEMORY\n\
                 resolver_preload: {{\n  {account_public}: \"{account_jwt}\"\n  {system_public}: \"{system_jwt}\"\n}}\n"
            ),
        )
        .expect("write the server's configuration");
        vec!["-c".into(), conf.display().to_string()]
    })
    .await;
    let creds = tempfile::NamedTempFile::new().expect("a creds file");
    std::fs::write(
        creds.path(),
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().expect("a seed")
        ),
    )
    .expect("write the creds file");
    let mut config = NatsConfig::at(nats.url());
    assert!(!connects(&config).await, "operator mode wants credentials");
    config.creds_file = Some(creds.path().to_owned());
    assert!(connects(&config).await);
}

//! `waitlist worker` as a deployment runs it: from environment variables
//! only, against RabbitMQ and PostgreSQL; health over HTTP; SIGTERM stops
//! it gracefully.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;
use waitlist::conformance::wait_for;
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;
use waitlist::store::{Campaign, CampaignStore, User, UserStore};
use waitlist::{AmqpConfig, AmqpTransport, PgStore};

const CAMPAIGN: &str = "cli-campaign";
const ACCOUNT: &str = "cli-account";

fn required(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("WAITLIST_REQUIRE_BROKERS").as_deref() != Ok("1"),
                "{var} is not set and WAITLIST_REQUIRE_BROKERS=1"
            );
            eprintln!("SKIPPED: {var} is not set");
            None
        }
    }
}

/// The running binary (killed when dropped) and its standard output.
struct Running {
    child: tokio::process::Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    /// Lines of standard output until one equals `until`.
    async fn read_until(&mut self, until: &str, wait: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(wait, self.lines.next_line()).await {
                Ok(Ok(Some(line))) if line == until => return seen,
                Ok(Ok(Some(line))) => seen.push(line),
                other => {
                    panic!("no {until:?} within {wait:?} ({other:?}); output so far: {seen:?}")
                }
            }
        }
    }

    /// Every line until the output closes (within `wait`).
    async fn rest(&mut self, wait: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(wait, self.lines.next_line()).await {
            seen.push(line);
        }
        seen
    }
}

/// The status line of `GET path` on `port`.
fn http_status(port: u16, path: &str) -> String {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(conn, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("response");
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn worker_runs_the_domain_flow_on_rabbitmq_and_postgresql_and_stops_on_sigterm() {
    let (Some(amqp), Some(database)) = (required("AMQP_URL"), required("DATABASE_URL")) else {
        return;
    };
    let id = format!(
        "{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let schema = format!("cli_worker_{id}");
    let (domain, jobs) = (format!("domain-{id}"), format!("jobs-{id}"));
    let prefix = format!("cli-worker-{id}.");

    let pg = PgStore::connect(&database)
        .await
        .expect("PostgreSQL")
        .with_schema(&schema);
    pg.migrate().await.expect("migrate");
    pg.save_campaign(Campaign::new(CAMPAIGN, ACCOUNT))
        .await
        .expect("campaign");
    let user = User::new(CAMPAIGN, "u1", "u1@example.com", chrono::Utc::now());
    pg.insert_user(user).await.expect("user");

    let dir = std::env::temp_dir().join(format!("waitlist-cli-worker-{id}"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let emails = dir.join("emails.jsonl");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_waitlist"))
        .args([
            "worker",
            "--transport",
            "amqp",
            "--prefix",
            &prefix,
            "--port",
            "0",
        ])
        .args([
            "--schema",
            &schema,
            "--email-log",
            emails.to_str().expect("path"),
        ])
        .env("AMQP_URL", &amqp)
        .env("DATABASE_URL", &database)
        .env("KAFKA_TOPIC", &domain)
        .env("KAFKA_JOB_TOPIC", &jobs)
        .env_remove("PORT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut worker = Running {
        child,
        lines: BufReader::new(stdout).lines(),
    };
    let startup = worker.read_until("ready", Duration::from_secs(60)).await;
    assert!(
        startup
            .iter()
            .any(|l| l == "Event consumer server configuration:"),
        "{startup:?}"
    );
    assert!(
        startup
            .iter()
            .any(|l| l.contains(&format!("Domain events topic: {domain}"))),
        "{startup:?}"
    );
    assert!(
        startup
            .iter()
            .any(|l| l.contains("Stores: PostgreSQL") && !l.contains("password")),
        "{startup:?}"
    );
    let port: u16 = startup
        .iter()
        .find_map(|l| l.strip_prefix("health and metrics on http://"))
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {startup:?}"));
    assert!(http_status(port, "/health").contains("200"), "health");

    // A host publishes a signup; the worker ranks the user and welcomes them.
    let t = AmqpTransport::connect(AmqpConfig::new(&amqp).with_prefix(&prefix))
        .await
        .expect("RabbitMQ");
    let publisher = EventPublisher::new(Arc::new(t.clone()));
    let signed_up = UserSignedUp {
        user_id: "u1".into(),
        campaign_id: CAMPAIGN.into(),
        email: "u1@example.com".into(),
    };
    publisher
        .publish_event(&domain, &Envelope::new(ACCOUNT, CAMPAIGN, signed_up))
        .await
        .expect("published");
    wait_for(
        "u1 ranked and welcomed",
        Duration::from_secs(30),
        || async {
            let position = pg
                .user(CAMPAIGN, "u1")
                .await
                .ok()
                .flatten()
                .and_then(|u| u.position);
            let sent = std::fs::read_to_string(&emails).unwrap_or_default();
            if position == Some(1) && sent.contains("u1@example.com") {
                Ok(())
            } else {
                Err(format!("position {position:?}, emails {sent:?}"))
            }
        },
    )
    .await;

    let status = Command::new("kill")
        .args(["-TERM", &worker.child.id().expect("running").to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let tail = worker.read_until("stopping", Duration::from_secs(10)).await;
    assert!(tail.is_empty(), "{tail:?}");
    let reports = worker.rest(Duration::from_secs(40)).await;
    assert!(
        reports
            .iter()
            .any(|l| l.starts_with("position-workers handled 1")),
        "{reports:?}"
    );
    let exit = worker.child.wait().await.expect("exit");
    assert!(exit.success(), "{exit:?}");
    t.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the worker with `env`, a short startup timeout and nothing
/// reachable at `unreachable`: it serves `/health` as not ready while it
/// retries, writes one line per backoff step naming the broker or database
/// and the cause, and gives up with one error line and a failing exit.
async fn gives_up_clearly(transport: &str, env: &[(&str, &str)], names: &str) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_waitlist"));
    cmd.args(["worker", "--transport", transport, "--port", "0"])
        .args(["--startup-timeout", "5s", "--timeout", "1s"])
        .env_remove("PORT")
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut worker = Running {
        child,
        lines: BufReader::new(stdout).lines(),
    };
    let mut port = None;
    while port.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(10), worker.lines.next_line())
            .await
            .expect("output")
            .expect("read")
            .unwrap_or_else(|| panic!("{transport}: output closed before the ops server"));
        port = line
            .strip_prefix("health and metrics on http://")
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
    }
    let port = port.expect("port");
    let health = tokio::task::spawn_blocking(move || http_status(port, "/health"))
        .await
        .expect("health");
    assert!(health.contains("503"), "{transport}: {health}");
    let rest = worker.rest(Duration::from_secs(20)).await;
    assert!(!rest.iter().any(|l| l == "ready"), "{transport}: {rest:?}");
    let output = worker.child.wait_with_output().await.expect("exit");
    assert!(!output.status.success(), "{transport}: {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let (last, steps) = lines
        .split_last()
        .unwrap_or_else(|| panic!("{transport}: no stderr"));
    assert!(
        last.starts_with("waitlist: error: ")
            && last.contains(names)
            && last.contains("gave up after 5s"),
        "{transport}: {stderr}"
    );
    // 5 s with pauses of 1, 2, 4 s: two or three retries, each one line.
    assert!((1..=4).contains(&steps.len()), "{transport}: {stderr}");
    for step in steps {
        assert!(
            step.starts_with("waitlist: ")
                && step.contains(names)
                && step.contains("; retrying in "),
            "{transport}: {stderr}"
        );
    }
    assert!(!stderr.contains("hunter2"), "{transport}: {stderr}");
}

#[tokio::test]
async fn an_unreachable_broker_or_database_is_retried_one_line_at_a_time_then_given_up() {
    gives_up_clearly(
        "amqp",
        &[("AMQP_URL", "amqp://guest:hunter2@127.0.0.1:1/%2f")],
        "RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f",
    )
    .await;
    gives_up_clearly(
        "kafka",
        &[("KAFKA_BROKERS", "127.0.0.1:1")],
        "Kafka at 127.0.0.1:1",
    )
    .await;
    gives_up_clearly(
        "sqs",
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "hunter2"),
        ],
        "SQS at http://127.0.0.1:1",
    )
    .await;
    // The broker is there, the database is not.
    let Some(amqp) = required("AMQP_URL") else {
        return;
    };
    gives_up_clearly(
        "amqp",
        &[
            ("AMQP_URL", &amqp),
            (
                "DATABASE_URL",
                "postgres://postgres:hunter2@127.0.0.1:1/test",
            ),
        ],
        "PostgreSQL",
    )
    .await;
}

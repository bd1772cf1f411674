//! The `waitlist` binary, run as a user runs it: output and exit codes.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use waitlist::events::examples;
use waitlist::transport::SubscribeOptions;
use waitlist::{AmqpConfig, AmqpTransport, Queue, Subscription};

fn waitlist(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_waitlist"));
    cmd.args(args).env_remove("WAITLIST_TRANSPORT");
    cmd
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Every variant of `json` with each `"a|b|c"` placeholder string replaced
/// by one of its alternatives (the documents list enum values that way).
fn alternatives(json: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(json).expect("example is JSON");
    let mut out = vec![value];
    loop {
        let mut next = Vec::new();
        let mut expanded = false;
        for v in &out {
            match first_placeholder(v) {
                Some((path, text)) => {
                    expanded = true;
                    for alt in text.split('|') {
                        let mut copy = v.clone();
                        *copy.pointer_mut(&path).expect("path") = Value::String(alt.to_owned());
                        next.push(copy);
                    }
                }
                None => next.push(v.clone()),
            }
        }
        out = next;
        if !expanded {
            return out;
        }
    }
}

fn first_placeholder(v: &Value) -> Option<(String, String)> {
    match v {
        Value::String(s) if s.contains('|') => Some((String::new(), s.clone())),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| first_placeholder(v).map(|(p, s)| (format!("/{k}{p}"), s))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_placeholder(v).map(|(p, s)| (format!("/{i}{p}"), s))),
        _ => None,
    }
}

#[test]
fn every_documented_example_validates_against_the_printed_schema() {
    let (out, stdout, stderr) = run(&mut waitlist(&["schema"]));
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("schema prints JSON");
    let events = doc["events"].as_object().expect("events");
    assert!(events.len() >= 19, "{} events", events.len());
    let mut checked = 0;
    for (name, schema) in events {
        let validator = jsonschema::validator_for(schema)
            .unwrap_or_else(|e| panic!("{name}'s schema is not a valid JSON Schema: {e}"));
        let example = examples::ALL.iter().find(|(_, json)| {
            let v: Value = serde_json::from_str(json).expect("JSON");
            let types = schema["x-waitlist"]["types"].as_array().expect("types");
            match v.get("type") {
                Some(t) if schema["x-waitlist"]["wire"] == "envelope" => types.contains(t),
                _ => schema["x-waitlist"]["wire"] == "flat" && is_flat_example(name, json),
            }
        });
        let Some((example_name, json)) = example else {
            continue;
        };
        for variant in alternatives(json) {
            let errors: Vec<String> = validator
                .iter_errors(&variant)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{example_name} against {name}: {errors:?}"
            );
            checked += 1;
            // The schema refuses a message that lacks a required field.
            let mut broken = variant.clone();
            let first = broken
                .as_object_mut()
                .expect("object")
                .keys()
                .next()
                .cloned()
                .expect("a field");
            broken.as_object_mut().expect("object").remove(&first);
            assert!(
                !validator.is_valid(&broken),
                "{name} accepted {example_name} without {first}"
            );
        }
    }
    // 15 examples; QUEUE_LEFT and CHECKOUT_FAILED have three variants each.
    assert_eq!(checked, 19, "every example checked once per variant");
}

/// Whether `json` is the documents' example of the flat event `name`.
fn is_flat_example(name: &str, json: &str) -> bool {
    let wanted = match name {
        "NotificationEvent" => examples::NOTIFICATION,
        "QueueJoined" => examples::QUEUE_JOINED,
        "QueueLeft" => examples::QUEUE_LEFT,
        "QueueReady" => examples::QUEUE_READY,
        "CheckoutCompleted" => examples::CHECKOUT_COMPLETED,
        "CheckoutFailed" => examples::CHECKOUT_FAILED,
        "CheckoutExpired" => examples::CHECKOUT_EXPIRED,
        _ => return false,
    };
    std::ptr::eq(wanted, json)
}

#[test]
fn asyncapi_lists_every_topic_with_its_messages_and_groups() {
    let (out, stdout, stderr) = run(&mut waitlist(&["schema", "--asyncapi"]));
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    for topic in [
        "domain-events",
        "job-events",
        "webhook-events",
        "notifications.email",
        "QUEUE_JOINED",
        "CHECKOUT_EXPIRED",
    ] {
        let channel = &doc["channels"][topic];
        assert_eq!(channel["address"], topic);
        assert!(
            channel["messages"]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "{topic}"
        );
    }
    let email = &doc["operations"]["email-workers.domain-events"];
    assert_eq!(email["action"], "receive");
    assert_eq!(email["x-consumer-group"], "email-workers");
    let key = &doc["components"]["messages"]["UserSignedUp"]["x-partition-key"];
    assert_eq!(key, "campaign_id");
}

#[test]
fn bad_invocations_fail_with_one_line() {
    for (args, expect) in [
        (
            &[
                "publish",
                "domain-events",
                "/no/such/file.jsonl",
                "--transport",
                "amqp",
            ][..],
            "cannot read /no/such/file.jsonl",
        ),
        (
            &["publish", "domain-events", "x", "--timeout", "soon"][..],
            "not a duration",
        ),
    ] {
        let (out, _, stderr) = run(&mut waitlist(args));
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn amqp_url() -> Option<String> {
    match std::env::var("AMQP_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("WAITLIST_REQUIRE_BROKERS").as_deref() != Ok("1"),
                "AMQP_URL is not set and WAITLIST_REQUIRE_BROKERS=1"
            );
            eprintln!("SKIPPED: AMQP_URL is not set");
            None
        }
    }
}

fn signed_up(id: &str) -> String {
    serde_json::json!({
        "id": id, "type": "user.signed_up", "account_id": "a", "campaign_id": "camp",
        "data": { "user_id": id, "campaign_id": "camp", "email": format!("{id}@example.com") },
        "timestamp": "2025-01-01T12:00:00Z"
    })
    .to_string()
}

async fn next_id(sub: &mut Box<dyn Subscription>, wait: Duration) -> Option<String> {
    let d = tokio::time::timeout(wait, sub.next()).await.ok()??.ok()?;
    let id = d.message.id.clone();
    d.ack().await.expect("ack");
    Some(id)
}

#[tokio::test]
async fn publish_sends_a_valid_file_and_nothing_of_a_file_with_a_bad_line() {
    let Some(url) = amqp_url() else { return };
    let prefix = format!("cli-{}.", std::process::id());
    let t = AmqpTransport::connect(AmqpConfig::new(&url).with_prefix(&prefix))
        .await
        .expect("RabbitMQ reachable");
    let group = "cli-test";
    t.declare_group("domain-events", group)
        .await
        .expect("declare");
    let dir = std::env::temp_dir().join(format!("waitlist-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");

    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        [signed_up("g1"), signed_up("g2"), signed_up("g3")].join("\n"),
    )
    .expect("write");
    let publish = |file: &std::path::Path, extra: &[&str]| {
        let mut cmd = waitlist(&[
            "publish",
            "domain-events",
            file.to_str().expect("path"),
            "--transport",
            "amqp",
            "--prefix",
            &prefix,
        ]);
        cmd.args(extra).env("AMQP_URL", &url);
        run(&mut cmd)
    };
    let (out, stdout, stderr) = publish(&good, &[]);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "published 3 events to domain-events");
    let (out, stdout, _) = publish(&good, &["--json"]);
    assert!(out.status.success());
    let summary: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(summary["published"], 3);

    let queue: Arc<dyn Queue> = Arc::new(t.clone());
    let mut sub = queue
        .subscribe("domain-events", group, SubscribeOptions::default())
        .await
        .expect("subscribe");
    let mut got = Vec::new();
    while let Some(id) = next_id(&mut sub, Duration::from_secs(5)).await {
        got.push(id);
        if got.len() == 6 {
            break;
        }
    }
    got.sort();
    assert_eq!(got, ["g1", "g1", "g2", "g2", "g3", "g3"]);

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        [
            signed_up("b1"),
            "{\"type\":\"user.signed_up\"}".to_owned(),
            signed_up("b3"),
        ]
        .join("\n"),
    )
    .expect("write");
    let (out, _, stderr) = publish(&bad, &[]);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.jsonl:2: not a valid UserSignedUp"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 3 lines are not valid events; nothing was published"),
        "{stderr}"
    );
    assert_eq!(
        next_id(&mut sub, Duration::from_secs(1)).await,
        None,
        "nothing of the bad file arrives"
    );
    let _ = sub.close().await;
    t.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_broker_is_one_line_without_the_password() {
    let dir = std::env::temp_dir().join(format!("waitlist-cli-unreachable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("one.jsonl");
    std::fs::write(&file, signed_up("u1")).expect("write");
    let path = file.to_str().expect("path");
    let mut cmd = waitlist(&["publish", "domain-events", path, "--timeout", "5s"]);
    cmd.env("AMQP_URL", "amqp://guest:hunter2@127.0.0.1:1/%2f");
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(!out.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "waitlist: error: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

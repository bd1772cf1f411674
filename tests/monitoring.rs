//! The monitoring kit (`monitoring/`): the Grafana dashboard and the
//! Prometheus alert rules name only metrics the SDK exports, and the
//! runtime's metrics they chart appear in a real scrape under the names
//! and labels the queries use.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use waitlist::conformance::{eventually, WAIT};
use waitlist::ops::install_prometheus;
use waitlist::prelude::*;

/// Every metric name the SDK's crates export.
fn exported() -> BTreeSet<&'static str> {
    use waitlist::amqp::metrics as amqp;
    use waitlist::kafka::metrics as kafka;
    use waitlist::postgres::outbox;
    use waitlist::sqs::metrics as sqs;
    let mut names: BTreeSet<&str> = waitlist::runtime::metrics::ALL.iter().copied().collect();
    names.extend([
        amqp::REQUESTS,
        amqp::RECONNECT_FAILURES,
        amqp::CONSUMER_RECOVERIES,
    ]);
    names.extend([kafka::REQUESTS, kafka::CONSUMER_LAG, kafka::COMMIT_ERRORS]);
    names.extend([sqs::REQUESTS, sqs::FAILED_ENTRIES, sqs::HEARTBEATS]);
    names.extend([outbox::BACKLOG, outbox::OLDEST_AGE, outbox::RELAYED]);
    names.insert(outbox::FAILED_BATCHES);
    names
}

/// The `waitlist_…` names a text mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("waitlist_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

fn kit(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every query of the dashboard.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&kit("grafana-dashboard.json")).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut queries = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            queries.push(t["expr"].as_str().expect("expr").to_owned());
        }
    }
    queries
}

#[test]
fn the_kit_names_only_metrics_the_sdk_exports() {
    let exported = exported();
    let queries = dashboard_queries().join("\n");
    let alerts = kit("prometheus-alerts.yml");
    for (file, text) in [
        ("grafana-dashboard.json", &queries),
        ("prometheus-alerts.yml", &alerts),
    ] {
        let named = metric_names(text);
        assert!(named.len() >= 5, "{file}: {named:?}");
        let unknown: Vec<&String> = named
            .iter()
            .filter(|n| !exported.contains(n.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics the SDK does not export: {unknown:?}"
        );
    }
    // The alerts the operations issue asks for.
    for (alert, metric) in [
        ("WaitlistConsumerLagHigh", "waitlist_kafka_consumer_lag"),
        ("WaitlistDeadLettersGrowing", "waitlist_dead_lettered_total"),
        ("WaitlistGroupStopped", "waitlist_group_members"),
        ("WaitlistOutboxStale", "waitlist_outbox_oldest_age_seconds"),
    ] {
        let at = alerts
            .find(&format!("alert: {alert}"))
            .unwrap_or_else(|| panic!("no alert {alert}"));
        let expr = alerts[at..]
            .lines()
            .find_map(|l| l.trim().strip_prefix("expr: "))
            .expect("expr");
        assert!(expr.contains(metric), "{alert}: {expr}");
    }
}

#[test]
fn the_metric_finder_reads_names_out_of_queries() {
    let names = metric_names(
        r#"sum by (group) (rate(waitlist_processed_total{group=~"$group"}[5m])) / waitlist_in_flight"#,
    );
    let expected: BTreeSet<String> = ["waitlist_processed_total", "waitlist_in_flight"]
        .map(String::from)
        .into();
    assert_eq!(names, expected);
}

/// The runtime's metrics the kit uses, in a real scrape: a group on the
/// memory bus handles, retries and dead-letters, then stops.
#[tokio::test]
async fn the_runtime_metrics_of_the_kit_appear_in_a_scrape() {
    let metrics = install_prometheus().expect("recorder");
    let bus = MemoryBus::new();
    let group = ConsumerGroup::new(
        "kit-events",
        "kit-workers",
        Router::new().fallback(handler_fn(
            |e: Envelope<serde_json::Value>, ctx: Context| async move {
                match (e.data["n"].as_u64(), ctx.attempt) {
                    (Some(1), 1) => Outcome::retry("once"),
                    (Some(2), _) => Outcome::dead_letter("bad"),
                    _ => Outcome::Done,
                }
            },
        )),
    )
    .retry(RetryPolicy::fixed(3, Duration::from_millis(1)))
    .start(Arc::new(bus.clone()))
    .await
    .expect("start");
    let members = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("waitlist_group_members{") && l.contains("kit-workers"))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
    };
    assert_eq!(members(&metrics.render()).as_deref(), Some("1"));
    for n in 0..3 {
        let payload = format!(
            r#"{{"id":"kit-{n}","type":"kit.test","account_id":"a","campaign_id":"c","data":{{"n":{n}}},"timestamp":"2025-01-01T12:00:00Z"}}"#
        );
        bus.publish_one(Message::new("kit-events", payload))
            .await
            .expect("publish");
    }
    eventually("the three handled", WAIT, || async {
        let s = group.stats();
        s.done == 2 && s.dead_lettered == 1
    })
    .await;
    let text = metrics.render();
    let scraped = metric_names(&text);
    for name in dashboard_queries().iter().flat_map(|q| metric_names(q)) {
        let runtime = waitlist::runtime::metrics::ALL.contains(&name.as_str());
        // Publishing through a transport, panics, settle and subscription
        // errors are not part of this run.
        let not_here = [
            "waitlist_published_total",
            "waitlist_publish_errors_total",
            "waitlist_handler_panics_total",
            "waitlist_settle_errors_total",
            "waitlist_subscription_errors_total",
        ];
        if runtime && !not_here.contains(&name.as_str()) {
            assert!(
                scraped.contains(&name),
                "{name} is not in the scrape:\n{text}"
            );
        }
    }
    // The labels and the summary quantiles the queries select on.
    for needle in [
        r#"outcome="dead_letter""#,
        r#"group="kit-workers""#,
        r#"quantile="0.99""#,
    ] {
        assert!(
            text.contains(needle),
            "{needle} is not in the scrape:\n{text}"
        );
    }
    let _ = group.shutdown(Duration::from_secs(5)).await;
    assert_eq!(members(&metrics.render()).as_deref(), Some("0"));
}

/// The alert rules as Prometheus loads them: YAML (read by PyYAML from the
/// project's virtualenv) with one rule group whose rules each have a name,
/// an expression, a severity and a summary.
#[tokio::test]
async fn the_alert_rules_are_well_formed_yaml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(py) = waitlist::conformance::interop::python(root) else {
        assert!(
            std::env::var("WAITLIST_REQUIRE_BROKERS").as_deref() != Ok("1"),
            "no Python virtualenv at {} (scripts/services.sh up)",
            root.join(".venv").display()
        );
        println!("SKIPPED: no Python virtualenv");
        return;
    };
    let file = root.join("monitoring/prometheus-alerts.yml");
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let out =
        waitlist::conformance::interop::run_python(&py, &["-c", script, &file.to_string_lossy()])
            .await;
    let rules: serde_json::Value = serde_json::from_str(&out).expect("JSON of the YAML");
    let groups = rules["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1);
    let rules = groups[0]["rules"].as_array().expect("rules");
    assert!(rules.len() >= 4, "{rules:?}");
    for rule in rules {
        assert!(
            rule["alert"]
                .as_str()
                .is_some_and(|a| a.starts_with("Waitlist")),
            "{rule}"
        );
        assert!(
            rule["expr"]
                .as_str()
                .is_some_and(|e| e.contains("waitlist_")),
            "{rule}"
        );
        assert!(rule["labels"]["severity"].is_string(), "{rule}");
        assert!(rule["annotations"]["summary"].is_string(), "{rule}");
    }
}

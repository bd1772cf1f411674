//! The ops server over real HTTP: service info, health with readiness of
//! checks and consumer groups, Prometheus metrics including the runtime's.

use std::sync::Arc;
use std::time::Duration;

use waitlist::conformance::{eventually, WAIT};
use waitlist::ops::{health_fn, install_prometheus, OpsServer};
use waitlist::prelude::*;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn ops_server_serves_info_health_and_runtime_metrics() {
    let metrics = install_prometheus().expect("recorder");
    let bus = MemoryBus::new();
    let group = ConsumerGroup::new(
        "ops-test",
        "ops-workers",
        Router::new().fallback(handler_fn(|_e: Envelope<serde_json::Value>, _| async {
            Outcome::Done
        })),
    )
    .start(Arc::new(bus.clone()))
    .await
    .expect("start");
    let ops = OpsServer::new("test-workers", "1.2.3")
        .metrics(metrics)
        .check("transport", health_fn(|| async { Ok(()) }))
        .groups([group])
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let base = format!("http://{}", ops.local_addr());

    let msg = Message::new(
        "ops-test",
        r#"{"id":"1","type":"x.y","account_id":"a","campaign_id":"c","data":{},"timestamp":"2025-01-01T12:00:00Z"}"#,
    );
    bus.publish_one(msg).await.expect("publish");
    // Handled once the runtime counted it.
    eventually("the delivery counted in /metrics", WAIT, || async {
        get(&format!("{base}/metrics"))
            .await
            .1
            .contains("waitlist_processed_total")
    })
    .await;

    let (status, body) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(info["service"], "test-workers");
    assert_eq!(info["version"], "1.2.3");

    let (status, body) = get(&format!("{base}/health")).await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["checks"]["transport"], "ok");
    assert_eq!(health["checks"]["group:ops-workers"], "ok");

    let (status, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(body.contains("waitlist_processed_total"), "{body}");
    assert!(body.contains("ops-workers"), "{body}");

    let reports = ops.shutdown(Duration::from_secs(5)).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].stats.done, 1);
}

#[tokio::test]
async fn failing_readiness_check_makes_health_unavailable() {
    let ops = OpsServer::new("test-workers", "1.2.3")
        .check(
            "transport",
            health_fn(|| async { Err("broker unreachable".to_owned()) }),
        )
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let (status, body) = get(&format!("http://{}/health", ops.local_addr())).await;
    assert_eq!(status, 503);
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["checks"]["transport"], "broker unreachable");
    ops.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn health_is_not_ready_until_the_groups_have_joined() {
    let ops = OpsServer::new("test-workers", "1.2.3")
        .joining()
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let url = format!("http://{}/health", ops.local_addr());
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["checks"]["groups"], "joining");

    let group = ConsumerGroup::new(
        "ops-joining",
        "joining-workers",
        Router::new().fallback(handler_fn(|_e: Envelope<serde_json::Value>, _| async {
            Outcome::Done
        })),
    )
    .start(Arc::new(MemoryBus::new()))
    .await
    .expect("start");
    ops.joined([group]);
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["checks"]["group:joining-workers"], "ok");
    assert!(health["checks"].get("groups").is_none(), "{body}");
    let reports = ops.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        reports.len(),
        1,
        "the joined group is shut down with the server"
    );
}

//! Broker restart mid-stream (`rabbitmqctl stop_app` / `start_app`): nothing
//! published before or after is lost. A test binary of its own, because the
//! restart disturbs every other test using the broker.

mod support;

use std::time::Duration;

use waitlist_core::conformance::{broker_restart_loses_nothing, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_restart_loses_nothing_on_rabbitmq() {
    let Some(mut h) = support::harness().await else {
        Harness::missing_broker("broker_restart_loses_nothing_on_rabbitmq");
        return;
    };
    h.restart = Some(Box::new(|| {
        Box::pin(async {
            support::rabbitmqctl(&["stop_app"]).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            support::rabbitmqctl(&["start_app"]).await;
            support::rabbitmqctl(&["await_startup"]).await;
        })
    }));
    broker_restart_loses_nothing(&h).await;
}

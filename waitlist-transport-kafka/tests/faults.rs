//! Fault injection on librdkafka's mock cluster: request errors on produce
//! and offset commit, a broker going down and up — nothing is lost.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::{mock_transport, Mock};
use waitlist_core::conformance;
use waitlist_core::events::Envelope;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router, RunningGroup};
use waitlist_core::{Message, Publisher, Queue};
use waitlist_transport_kafka::KafkaTransport;

/// The ids a consumer group handled.
type Seen = Arc<Mutex<HashSet<String>>>;

/// A mock cluster of three brokers and a transport on it.
fn cluster() -> (Mock, KafkaTransport) {
    let mock = Mock::start(3);
    let t = mock_transport(&mock);
    (mock, t)
}

fn messages(topic: &str, n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let body = format!(
                r#"{{"id":"m{i}","type":"fault.test","account_id":"a","campaign_id":"c{}","data":{{}},"timestamp":"2025-01-01T12:00:00Z"}}"#,
                i % 8
            );
            Message::new(topic, body).with_id(format!("m{i}")).with_key(format!("c{}", i % 8))
        })
        .collect()
}

/// Starts group `g` on `topic`, recording the ids it handles.
async fn consume(t: &KafkaTransport, topic: &str) -> (RunningGroup, Seen) {
    let seen = Seen::default();
    let s = Arc::clone(&seen);
    let router = Router::new().fallback(handler_fn(
        move |e: Envelope<serde_json::Value>, _ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                s.lock().expect("lock").insert(e.id);
                Outcome::Done
            }
        },
    ));
    let queue: Arc<dyn Queue> = Arc::new(t.clone());
    let group = ConsumerGroup::new(topic, "g", router)
        .start(queue)
        .await
        .expect("start");
    (group, seen)
}

async fn wait_for(seen: &Seen, n: usize) {
    conformance::wait_for("messages handled", Duration::from_secs(60), || {
        let handled = seen.lock().expect("lock").len();
        let result = if handled >= n {
            Ok(())
        } else {
            Err(format!("only {handled} of {n}"))
        };
        std::future::ready(result)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn produce_request_errors_are_retried_and_nothing_is_lost() {
    let (mock, t) = cluster();
    let topic = "faults-produce";
    t.create_topics(&[topic]).await.expect("kafka operation");
    mock.run(|c| {
        let errors = [
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ];
        c.request_errors(RDKafkaApiKey::Produce, &errors.repeat(3));
    });
    t.publish(messages(topic, 300))
        .await
        .expect("publish survives produce errors");
    let (group, seen) = consume(&t, topic).await;
    wait_for(&seen, 300).await;
    group.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_offset_commits_repeat_work_but_lose_nothing() {
    let (mock, t) = cluster();
    let topic = "faults-commit";
    let (group, seen) = consume(&t, topic).await;
    mock.run(|c| {
        let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 20];
        c.request_errors(RDKafkaApiKey::OffsetCommit, &errors);
    });
    t.publish(messages(topic, 200))
        .await
        .expect("kafka operation");
    wait_for(&seen, 200).await;
    group.shutdown(Duration::from_secs(10)).await;
    mock.run(|c| c.clear_request_errors(RDKafkaApiKey::OffsetCommit));
    // A new member of the group starts from what was committed: at most
    // repeated work, never a gap.
    let (group, again) = consume(&t, topic).await;
    t.publish(messages(topic, 201).split_off(200))
        .await
        .expect("kafka operation");
    conformance::wait_until("m200 handled", Duration::from_secs(60), || {
        again.lock().expect("lock").contains("m200")
    })
    .await;
    group.shutdown(Duration::from_secs(10)).await;
    let all: HashSet<String> = seen
        .lock()
        .expect("no panic")
        .union(&again.lock().expect("lock"))
        .cloned()
        .collect();
    assert!(
        all.contains("m200"),
        "the message after the failed commits arrives"
    );
    assert_eq!(all.len(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_down_and_up_loses_nothing() {
    let (mock, t) = cluster();
    let topic = "faults-down";
    let (group, seen) = consume(&t, topic).await;
    t.publish(messages(topic, 100))
        .await
        .expect("kafka operation");
    mock.run(|c| c.broker_down(1)).expect("broker down");
    let publisher = t.clone();
    let during = tokio::spawn(async move {
        let mut rest = messages("faults-down", 200).split_off(100);
        for m in &mut rest {
            m.topic = "faults-down".into();
        }
        publisher.publish(rest).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    mock.run(|c| c.broker_up(1)).expect("broker up");
    during
        .await
        .expect("no panic")
        .expect("publish completes once the broker is back");
    wait_for(&seen, 200).await;
    // Nothing stays in flight once everything is handled (settles are
    // bounded), and a graceful shutdown right after abandons nothing.
    conformance::wait_until("nothing in flight", Duration::from_secs(60), || {
        group.stats().in_flight == 0
    })
    .await;
    let report = group.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.abandoned, 0, "{report:?}");
}

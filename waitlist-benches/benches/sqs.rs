//! Amazon SQS: API requests and throughput of the SDK against raw
//! aws-sdk-sqs on the same emulator, in the same run.
//!
//! - requests per 1,000 messages, end to end (send + receive + delete):
//!   a naive loop with one request per operation (`SendMessage`,
//!   `ReceiveMessage` of one, `DeleteMessage`), raw aws-sdk-sqs with batches
//!   (`SendMessageBatch` of 10, `ReceiveMessage` of 10, `DeleteMessageBatch`),
//!   and the SDK (publish in calls of 100 to a direct topic, a consumer group
//!   of 10 workers acking each message), counted by the transport's own
//!   request counter.
//! - throughput, end to end: the raw batched loop against the SDK.
//!
//! Run: `cargo bench -p waitlist-benches --bench sqs --features sqs` with the emulator up
//! (`scripts/services.sh up`); `AWS_ENDPOINT_URL` selects it,
//! `BENCH_MESSAGES` (default 1,000) and `BENCH_ROUNDS` (3) the size. The
//! emulator (moto) serves about 100–200 requests per second and slows down
//! with a queue's backlog, so the sizes are small; the naive loop runs on at
//! most 200 messages and is scaled to 1,000.

#[path = "../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
};
use common::{
    median, runtime, sdk_consume, signed_up_messages, sizes, throughput_row, unreachable, Row,
};
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;
use waitlist::{SqsConfig, SqsTransport};

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("attribute")
}

fn decode(body: Option<&str>) {
    let e: Envelope<UserSignedUp> = serde_json::from_str(body.expect("body")).expect("decode");
    std::hint::black_box(&e);
}

/// Fails the bench when a batch call refused any of its entries.
fn all_taken<T: std::fmt::Debug>(failed: &[T], what: &str) {
    assert!(failed.is_empty(), "refused {what}: {failed:?}");
}

/// One `ReceiveMessage` of up to `max` messages with their attributes
/// (long polling for a second).
async fn receive(
    raw: &aws_sdk_sqs::Client,
    url: &str,
    max: i32,
) -> aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput {
    raw.receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive")
}

/// Naive: one request per operation. Returns the requests made.
async fn naive(raw: &aws_sdk_sqs::Client, url: &str, msgs: &[Message]) -> u64 {
    let mut requests = 0;
    for m in msgs {
        raw.send_message()
            .queue_url(url)
            .message_body(std::str::from_utf8(&m.payload).expect("utf-8"))
            .message_attributes("waitlist-message-id", attr(&m.id))
            .message_attributes("waitlist-key", attr(m.key.as_deref().unwrap_or("-")))
            .send()
            .await
            .expect("send");
        requests += 1;
    }
    let mut got = 0;
    while got < msgs.len() {
        let out = receive(raw, url, 1).await;
        requests += 1;
        for msg in out.messages() {
            decode(msg.body());
            raw.delete_message()
                .queue_url(url)
                .receipt_handle(msg.receipt_handle().expect("handle"))
                .send()
                .await
                .expect("delete");
            requests += 1;
            got += 1;
        }
    }
    requests
}

/// Raw batched: send batches of 10, receive 10 at a time, delete in
/// batches. Returns the requests made and the time taken.
async fn batched(raw: &aws_sdk_sqs::Client, url: &str, msgs: &[Message]) -> (u64, Duration) {
    let started = Instant::now();
    let mut requests = 0;
    for chunk in msgs.chunks(10) {
        let mut req = raw.send_message_batch().queue_url(url);
        for (i, m) in chunk.iter().enumerate() {
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(std::str::from_utf8(&m.payload).expect("utf-8"))
                    .message_attributes("waitlist-message-id", attr(&m.id))
                    .message_attributes("waitlist-key", attr(m.key.as_deref().unwrap_or("-")))
                    .build()
                    .expect("entry"),
            );
        }
        all_taken(req.send().await.expect("send batch").failed(), "entries");
        requests += 1;
    }
    let mut got = 0;
    while got < msgs.len() {
        let out = receive(raw, url, 10).await;
        requests += 1;
        if out.messages().is_empty() {
            continue;
        }
        let mut del = raw.delete_message_batch().queue_url(url);
        for (i, msg) in out.messages().iter().enumerate() {
            decode(msg.body());
            del = del.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(msg.receipt_handle().expect("handle"))
                    .build()
                    .expect("entry"),
            );
            got += 1;
        }
        all_taken(del.send().await.expect("delete batch").failed(), "deletes");
        requests += 1;
    }
    (requests, started.elapsed())
}

fn main() {
    let (n, rounds) = sizes("BENCH_MESSAGES", 100, 1_000, 3);
    let rt = runtime();
    rt.block_on(async {
        let endpoint =
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
        let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        let raw = aws_sdk_sqs::Client::new(&cfg);
        let probe = raw.list_queues().max_results(1).send();
        if !matches!(
            tokio::time::timeout(Duration::from_secs(5), probe).await,
            Ok(Ok(_))
        ) {
            unreachable("sqs", "SQS emulator", &endpoint);
            return;
        }
        let id = std::process::id();
        let topic = format!("bench-{id}");
        let group = "bench";
        let t = SqsTransport::connect(
            SqsConfig::new()
                .with_sdk_config(cfg.clone())
                .with_prefix("wl-bench-")
                .with_direct_topic(&topic, group),
        )
        .await
        .expect("transport");
        let sdk_url = t.declare_group(&topic, group).await.expect("declare");
        let raw_url = raw
            .create_queue()
            .queue_name(format!("wl-bench-raw-{id}"))
            .send()
            .await
            .expect("raw queue")
            .queue_url()
            .expect("url")
            .to_owned();
        let msgs = signed_up_messages(&topic, n);
        let naive_n = n.min(200);
        let naive_requests = naive(&raw, &raw_url, &msgs[..naive_n]).await;
        let (mut req_raw, mut req_sdk, mut tp_raw, mut tp_sdk) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let (requests, took) = batched(&raw, &raw_url, &msgs).await;
            req_raw.push(requests as f64 * 1000.0 / n as f64);
            tp_raw.push(n as f64 / took.as_secs_f64());

            let before = t.requests_sent();
            let started = Instant::now();
            for chunk in msgs.chunks(100) {
                t.publish(chunk.to_vec()).await.expect("publish");
            }
            let published = started.elapsed();
            // Timed to the last message handled; the group's shutdown that
            // follows is not timed.
            let consumed = sdk_consume(Arc::new(t.clone()), &topic, group, n).await;
            let took = published + consumed;
            // Counted after the group's shutdown, so every delete it flushed
            // is in, and so are the long polls its receivers had open then.
            req_sdk.push((t.requests_sent() - before) as f64 * 1000.0 / n as f64);
            tp_sdk.push(n as f64 / took.as_secs_f64());
        }
        let naive_per_1000 = naive_requests as f64 * 1000.0 / naive_n as f64;
        let (rr, rs, pr, ps) = (
            median(req_raw),
            median(req_sdk),
            median(tp_raw),
            median(tp_sdk),
        );
        println!(
            "sqs: {n} messages of ~{} bytes, {rounds} rounds, medians (naive loop on {naive_n})",
            msgs[0].payload.len()
        );
        println!("  API requests per 1,000 messages (send + receive + delete)");
        println!("    naive, one request per operation  {naive_per_1000:>7.0}");
        println!("    raw aws-sdk-sqs, batches of 10    {rr:>7.0}");
        println!(
            "    waitlist                          {rs:>7.0}   naive/waitlist {:.1}x",
            naive_per_1000 / rs
        );
        println!(
            "  end to end  raw aws-sdk-sqs {pr:>8.0}/s   waitlist {ps:>8.0}/s   ratio {:.3}",
            ps / pr
        );
        Row {
            what: "SQS billed requests per message end to end (baseline: raw batched)",
            sdk: format!("{:.3}", rs / 1000.0),
            baseline: format!("{:.3}", rr / 1000.0),
            ratio: Some(rs / rr),
            target: "≤ 0.31 per message",
            met: common::full_run().then_some(rs / 1000.0 <= 0.31),
        }
        .print();
        throughput_row(
            "SQS end-to-end throughput (vs raw aws-sdk-sqs, batched)",
            ps,
            pr,
            "≥ 0.95",
            0.95,
        );
        let names = t.names(&topic, group);
        let _ = raw.delete_queue().queue_url(&raw_url).send().await;
        let _ = raw.delete_queue().queue_url(&sdk_url).send().await;
        if let Ok(dlq) = raw
            .get_queue_url()
            .queue_name(&names.dead_letters)
            .send()
            .await
        {
            if let Some(url) = dlq.queue_url() {
                let _ = raw.delete_queue().queue_url(url).send().await;
            }
        }
    });
}

//! The outbox across a broker outage: the host keeps committing events
//! while RabbitMQ is stopped (`rabbitmqctl stop_app`); once it is back,
//! every staged event arrives, each once per id, in order per key.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waitlist::events::UserSignedUp;
use waitlist::prelude::*;
mod pg_amqp_support;

fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

/// Starts RabbitMQ's application again if a failed assertion left it
/// stopped, so later tests find the broker.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "start_app"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_staged_during_a_broker_outage_arrives_once_it_is_back() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("ob_{id}");
    let Some((pg, transport)) = pg_amqp_support::connect(&schema).await else {
        return;
    };
    pg.migrate().await.expect("migrate");
    let topic = format!("outbox-{id}");

    // Received ids in arrival order, per key.
    let seen: Arc<Mutex<Vec<(String, String, u32)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let router = Router::new().on(handler_fn(move |e: Envelope<UserSignedUp>, _: Context| {
        let record = Arc::clone(&record);
        async move {
            let n = e.data.user_id.parse().unwrap_or(u32::MAX);
            record
                .lock()
                .expect("lock")
                .push((e.id, e.data.campaign_id, n));
            Outcome::Done
        }
    }));
    let group = ConsumerGroup::new(&topic, "outbox-readers", router)
        .start(Arc::new(transport.clone()))
        .await
        .expect("group");
    let outbox = pg.outbox();
    let relay = outbox
        .relay(Arc::new(transport.clone()))
        .with_poll_interval(Duration::from_millis(100))
        .with_backoff(Duration::from_millis(100), Duration::from_secs(1))
        .start();

    // The host commits 600 events over 6 campaigns (keys); the broker is
    // stopped after the first 200 and started again after the next 200.
    let _restart = Restart;
    let mut staged = HashSet::new();
    let mut outage = None;
    let mut held = 0;
    for n in 0..600u32 {
        if n == 200 {
            rabbitmqctl(&["stop_app"]);
            outage = Some(Instant::now());
        }
        if n == 400 {
            held = outbox.backlog().await.expect("backlog").pending;
            rabbitmqctl(&["start_app"]);
            rabbitmqctl(&["await_startup"]);
        }
        let event = Envelope::new(
            "acme",
            format!("c{}", n % 6),
            UserSignedUp {
                user_id: n.to_string(),
                campaign_id: format!("c{}", n % 6),
                email: format!("u{n}@example.com"),
            },
        );
        let mut tx = pg.pool().begin().await.expect("begin");
        let id = outbox
            .stage_event(&mut *tx, &topic, &event)
            .await
            .expect("stage");
        tx.commit().await.expect("commit");
        staged.insert(id);
        if (200..400).contains(&n) {
            // Spread the staging over the outage.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ids: HashSet<String> = seen
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.0.clone())
            .collect();
        if staged.is_subset(&ids) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} staged events arrived",
            staged.iter().filter(|i| ids.contains(*i)).count(),
            staged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = outage.map(|t| t.elapsed());
    let failed = relay.stats().failed_batches();
    relay.stop().await;
    let report = group.shutdown(Duration::from_secs(10)).await;

    // Each id's first arrival is in staging order per key (redeliveries of
    // an already-seen id may come later).
    let arrivals = seen.lock().expect("lock").clone();
    let mut first = HashSet::new();
    let mut last: HashMap<String, u32> = HashMap::new();
    for (id, key, n) in &arrivals {
        if !first.insert(id.clone()) {
            continue;
        }
        if let Some(prev) = last.insert(key.clone(), *n) {
            assert!(*n > prev, "key {key}: {n} arrived after {prev}");
        }
    }
    assert_eq!(first.len(), 600);
    assert_eq!(outbox.backlog().await.expect("backlog").pending, 0);
    assert!(
        held > 0,
        "events staged during the outage must wait in the outbox"
    );
    println!(
        "outbox across an outage: 600 staged, {held} held during the outage, {} deliveries \
         ({} duplicates), {failed} failed batches, all in {recovered:?} from the stop; group \
         handled {}",
        arrivals.len(),
        arrivals.len() - first.len(),
        report.stats.done
    );
    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(pg.pool())
        .await;
}

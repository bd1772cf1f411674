//! Behaviours of the transport itself (publish, subscribe, settle).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{
    ack, drain_ids, plain_messages, publish_concurrently, recv, try_recv, Harness, WAIT,
};
use crate::{Headers, Message};

/// Id, key, headers and payload arrive as published; attempt is 1.
pub async fn round_trip_with_key_and_headers(h: &Harness) {
    let (topic, group) = (h.name("roundtrip"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let sent = Message::new(&topic, &b"{\"hello\":\"world\"}"[..])
        .with_id("11111111-2222-3333-4444-555555555555")
        .with_key("campaign-42")
        .with_header("x-trace", "abc")
        .with_header("x-unicode", "ünïcødé");
    h.publish(vec![sent.clone()]).await;
    let d = recv(&mut sub, WAIT).await;
    assert_eq!(d.message.id, sent.id, "id must survive the round trip");
    assert_eq!(d.message.key, sent.key, "key must survive the round trip");
    assert_eq!(
        d.message.payload, sent.payload,
        "payload must survive the round trip"
    );
    assert_eq!(d.message.topic, topic);
    for (k, v) in &sent.headers {
        assert_eq!(
            d.message.headers.get(k),
            Some(v),
            "header {k} must survive the round trip"
        );
    }
    assert_eq!(d.attempt, 1, "first delivery is attempt 1");
    assert_eq!(d.message.attempt_header(), 1);
    ack(d).await;
    assert!(
        try_recv(&mut sub, h.quiet).await.is_none(),
        "an acked message must not come back"
    );
}

/// 50 concurrent publishers × 100 messages: every message arrives.
pub async fn concurrent_publishers_lose_nothing(h: &Harness) {
    let (topic, group) = (h.name("concurrent"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let expected = publish_concurrently(&h.publisher, &topic, 50, h.count(100), 1).await;
    let got = drain_ids(&mut sub, expected.len(), WAIT).await;
    assert_eq!(got, expected, "every published message must arrive");
}

/// A subscription only sees its own topic.
pub async fn topics_are_isolated(h: &Harness) {
    let (a, b, group) = (h.name("iso-a"), h.name("iso-b"), h.name("g"));
    let mut sub_a = h.subscribe(&a, &group).await;
    let mut sub_b = h.subscribe(&b, &group).await;
    h.publish(plain_messages(&a, 10, "a")).await;
    h.publish(plain_messages(&b, 5, "b")).await;
    for (sub, topic, n) in [(&mut sub_a, &a, 10), (&mut sub_b, &b, 5)] {
        for _ in 0..n {
            let d = recv(sub, WAIT).await;
            assert_eq!(
                &d.message.topic, topic,
                "message of another topic delivered"
            );
            ack(d).await;
        }
        assert!(
            try_recv(sub, h.quiet).await.is_none(),
            "{topic} got more than was published to it"
        );
    }
}

/// A nacked message comes back with attempt + 1, in the header too.
pub async fn nacked_message_is_redelivered_with_next_attempt(h: &Harness) {
    let (topic, group) = (h.name("nack"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let sent = Message::new(&topic, "{}").with_key("k");
    h.publish(vec![sent.clone()]).await;
    for attempt in 1..=3u32 {
        let d = recv(&mut sub, WAIT).await;
        assert_eq!(d.message.id, sent.id);
        assert_eq!(d.attempt, attempt, "attempt must grow with every nack");
        assert_eq!(
            d.message.attempt_header(),
            attempt,
            "attempt header must match"
        );
        if attempt < 3 {
            if let Err(e) = d.nack(None, Headers::new()).await {
                panic!("nack failed: {e}");
            }
        } else {
            ack(d).await;
        }
    }
    assert!(try_recv(&mut sub, h.quiet).await.is_none());
}

/// Two groups on one topic both get every message.
pub async fn every_group_gets_every_message(h: &Harness) {
    let topic = h.name("fanout");
    let mut g1 = h.subscribe(&topic, &h.name("g1")).await;
    let mut g2 = h.subscribe(&topic, &h.name("g2")).await;
    let msgs = plain_messages(&topic, 100, "f");
    let expected: HashSet<String> = msgs.iter().map(|m| m.id.clone()).collect();
    h.publish(msgs).await;
    assert_eq!(
        drain_ids(&mut g1, 100, WAIT).await,
        expected,
        "group 1 missed messages"
    );
    assert_eq!(
        drain_ids(&mut g2, 100, WAIT).await,
        expected,
        "group 2 missed messages"
    );
}

/// Two members of one group each get part of the messages, each message once.
pub async fn members_of_a_group_split_the_load(h: &Harness) {
    let (topic, group) = (h.name("split"), h.name("g"));
    let m1 = h.subscribe(&topic, &group).await;
    let m2 = h.subscribe(&topic, &group).await;
    let total = h.count(200);
    let msgs = plain_messages(&topic, total, "s");
    let expected: HashSet<String> = msgs.iter().map(|m| m.id.clone()).collect();
    h.publish(msgs).await;
    let quiet = h.quiet;
    let seen = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + WAIT;
    let member = |mut sub: Box<dyn crate::Subscription>| {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut ids = Vec::new();
            // Until the members together have seen every message (joining a
            // group can take a broker a few seconds), then a quiet time that
            // would show a duplicate.
            loop {
                let done = seen.load(Ordering::SeqCst) >= total;
                let got = try_recv(&mut sub, quiet).await;
                let Some(d) = got else {
                    if done || Instant::now() > deadline {
                        break;
                    }
                    continue;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                ids.push(d.message.id.clone());
                // Each member pauses per message so that neither can take all.
                tokio::time::sleep(Duration::from_millis(2)).await;
                ack(d).await;
            }
            ids
        })
    };
    let (a, b) = (member(m1), member(m2));
    let (a, b) = match (a.await, b.await) {
        (Ok(a), Ok(b)) => (a, b),
        _ => panic!("member task failed"),
    };
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both members must get work ({} / {})",
        a.len(),
        b.len()
    );
    let sa: HashSet<_> = a.iter().cloned().collect();
    let sb: HashSet<_> = b.iter().cloned().collect();
    assert!(sa.is_disjoint(&sb), "a message went to both members");
    assert_eq!(a.len() + b.len(), total, "each message exactly once");
    assert_eq!(&sa | &sb, expected, "union must be every message");
}

/// Closing a member and subscribing again loses nothing.
pub async fn close_and_resubscribe_loses_nothing(h: &Harness) {
    let (topic, group) = (h.name("resub"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let first = plain_messages(&topic, 50, "r1");
    let mut expected: HashSet<String> = first.iter().map(|m| m.id.clone()).collect();
    h.publish(first).await;
    let mut got = HashSet::new();
    for _ in 0..20 {
        let d = recv(&mut sub, WAIT).await;
        got.insert(d.message.id.clone());
        ack(d).await;
    }
    if let Err(e) = sub.close().await {
        panic!("close failed: {e}");
    }
    drop(sub);
    let second = plain_messages(&topic, 50, "r2");
    expected.extend(second.iter().map(|m| m.id.clone()));
    h.publish(second).await;
    let mut sub = h.subscribe(&topic, &group).await;
    while got.len() < expected.len() {
        let d = recv(&mut sub, WAIT).await;
        got.insert(d.message.id.clone());
        ack(d).await;
    }
    assert_eq!(got, expected);
}

/// A delivery whose member goes away unsettled is delivered again.
pub async fn unsettled_delivery_of_dropped_member_is_redelivered(h: &Harness) {
    let (topic, group) = (h.name("dropped"), h.name("g"));
    let mut doomed = h.subscribe(&topic, &group).await;
    let sent = Message::new(&topic, "{}").with_key("k");
    h.publish(vec![sent.clone()]).await;
    let d = recv(&mut doomed, WAIT).await;
    assert_eq!(d.message.id, sent.id);
    drop(d);
    drop(doomed);
    let mut survivor = h.subscribe(&topic, &group).await;
    let again = recv(&mut survivor, WAIT).await;
    assert_eq!(
        again.message.id, sent.id,
        "the unsettled message must be redelivered"
    );
    assert_eq!(again.message.payload, sent.payload);
    ack(again).await;
}

/// A nack with a delay is not delivered early and does not hold up others.
pub async fn delayed_retry_is_not_early_and_does_not_block_other_keys(h: &Harness) {
    let (topic, group) = (h.name("delay"), h.name("g"));
    let delay = Duration::from_secs(2);
    let mut sub = h.subscribe(&topic, &group).await;
    let slow = Message::new(&topic, "{\"slow\":true}").with_key("slow-key");
    h.publish(vec![slow.clone()]).await;
    let d = recv(&mut sub, WAIT).await;
    assert_eq!(d.message.id, slow.id);
    let nacked_at = Instant::now();
    if let Err(e) = d.nack(Some(delay), Headers::new()).await {
        panic!("nack failed: {e}");
    }
    let fast = Message::new(&topic, "{\"fast\":true}").with_key("fast-key");
    h.publish(vec![fast.clone()]).await;
    let d = recv(&mut sub, WAIT).await;
    assert_eq!(
        d.message.id, fast.id,
        "another key must not wait behind a delayed retry"
    );
    assert!(
        nacked_at.elapsed() < delay,
        "the other key was held up until the delay passed"
    );
    ack(d).await;
    let d = recv(&mut sub, WAIT).await;
    assert_eq!(d.message.id, slow.id);
    let waited = nacked_at.elapsed();
    assert!(
        waited >= delay,
        "delayed retry arrived after {waited:?}, before its {delay:?} delay"
    );
    assert_eq!(d.attempt, 2);
    ack(d).await;
}

/// 20 tasks × 500 messages through a fresh publisher, then `close`:
/// everything arrives and the closed publisher refuses more.
pub async fn publisher_close_flushes(h: &Harness) {
    let (topic, group) = (h.name("flush"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let publisher = match (h.new_publisher)().await {
        Ok(p) => p,
        Err(e) => panic!("creating a publisher: {e}"),
    };
    let expected = publish_concurrently(&publisher, &topic, 20, h.count(500), 50).await;
    if let Err(e) = publisher.close().await {
        panic!("close failed: {e}");
    }
    assert!(
        publisher
            .publish_one(Message::new(&topic, "{}"))
            .await
            .is_err(),
        "a closed publisher must refuse new messages"
    );
    let got = drain_ids(&mut sub, expected.len(), WAIT * 2).await;
    assert_eq!(got, expected);
}

/// Messages published before and after a broker restart all arrive.
pub async fn broker_restart_loses_nothing(h: &Harness) {
    let Some(restart) = &h.restart else {
        eprintln!("not applicable: the {} transport cannot be restarted (Capabilities::restartable = false)", h.caps().name);
        assert!(
            !h.caps().restartable,
            "a restartable transport must provide Harness::restart"
        );
        return;
    };
    let (topic, group) = (h.name("restart"), h.name("g"));
    let mut sub = h.subscribe(&topic, &group).await;
    let before = plain_messages(&topic, 100, "b");
    let mut expected: HashSet<String> = before.iter().map(|m| m.id.clone()).collect();
    h.publish(before).await;
    restart().await;
    let after = plain_messages(&topic, 100, "a");
    expected.extend(after.iter().map(|m| m.id.clone()));
    let mut pending = after;
    let deadline = Instant::now() + WAIT;
    while !pending.is_empty() {
        match h.publisher.publish(pending.clone()).await {
            Ok(()) => pending.clear(),
            Err(e) if Instant::now() < deadline => {
                eprintln!("publish after restart failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("publish after restart kept failing: {e}"),
        }
    }
    let mut got = HashSet::new();
    while got.len() < expected.len() {
        match tokio::time::timeout(WAIT, sub.next()).await {
            Ok(Some(Ok(d))) => {
                got.insert(d.message.id.clone());
                let _ = d.ack().await;
            }
            Ok(Some(Err(e))) => {
                eprintln!("subscription error after restart (expected while reconnecting): {e}")
            }
            _ => panic!(
                "only {} of {} messages after restart",
                got.len(),
                expected.len()
            ),
        }
    }
    assert!(got.is_superset(&expected));
}

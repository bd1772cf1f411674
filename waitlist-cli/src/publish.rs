//! `waitlist publish TOPIC FILE.jsonl`: every line is decoded as the SDK's
//! typed event of the topic before anything is sent; one bad line and
//! nothing is published.

use std::io::Read;

use indicatif::{ProgressBar, ProgressStyle};
use waitlist::events::schema::{catalog, EventSchema, Wire};
use waitlist::Message;

use crate::transport::Broker;

/// Bad lines reported before the rest are only counted.
const MAX_REPORTED: usize = 20;
/// Messages per publish call.
const BATCH: usize = 100;
/// From this many messages on, a progress bar shows (on a terminal).
const PROGRESS_FROM: usize = 300;

pub(crate) async fn run(
    broker: &Broker,
    topic: &str,
    file: &str,
    json: bool,
) -> Result<(), String> {
    let text = read(file)?;
    let messages = validate(topic, &text).map_err(|bad| bad.report(file))?;
    let publisher = broker.publisher().await?;
    let timeout = broker.timeout;
    let bar = if messages.len() >= PROGRESS_FROM {
        let bar = ProgressBar::new(messages.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} published ({per_sec})")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let total = messages.len();
    let mut sent = 0;
    let mut rest = messages;
    while !rest.is_empty() {
        let batch: Vec<Message> = rest.drain(..rest.len().min(BATCH)).collect();
        let n = batch.len();
        match tokio::time::timeout(timeout, publisher.publish(batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                bar.abandon();
                return Err(format!(
                    "publishing to {topic} failed after {sent} of {total} events: {e}"
                ));
            }
            Err(_) => {
                bar.abandon();
                return Err(format!(
                    "the broker did not confirm within {timeout:?}; {sent} of {total} events were confirmed"
                ));
            }
        }
        sent += n;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    if let Err(e) = publisher.close().await {
        return Err(format!("closing the publisher: {e}"));
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "topic": topic, "published": sent })
        );
    } else {
        println!("published {sent} events to {topic}");
    }
    Ok(())
}

fn read(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))
}

/// The lines that are not events of the topic.
#[derive(Debug, Default)]
pub(crate) struct BadLines {
    lines: Vec<(usize, String)>,
    total: usize,
}

impl BadLines {
    fn report(&self, file: &str) -> String {
        let mut out = String::new();
        for (n, why) in self.lines.iter().take(MAX_REPORTED) {
            out.push_str(&format!("{file}:{n}: {why}\n"));
        }
        if self.lines.len() > MAX_REPORTED {
            out.push_str(&format!(
                "... and {} more\n",
                self.lines.len() - MAX_REPORTED
            ));
        }
        out.push_str(&format!(
            "{} of {} lines are not valid events; nothing was published",
            self.lines.len(),
            self.total
        ));
        out
    }
}

/// Every line of `text` as a message for `topic`, or every bad line.
pub(crate) fn validate(topic: &str, text: &str) -> Result<Vec<Message>, BadLines> {
    let events: Vec<EventSchema> = catalog()
        .into_iter()
        .filter(|e| e.topics.contains(&topic))
        .collect();
    let mut bad = BadLines::default();
    if events.is_empty() {
        let mut known: Vec<&str> = catalog()
            .iter()
            .flat_map(|e| e.topics.iter().copied())
            .collect();
        known.sort_unstable();
        known.dedup();
        bad.lines.push((
            0,
            format!(
                "unknown topic {topic:?}; known topics: {}",
                known.join(", ")
            ),
        ));
        return Err(bad);
    }
    let mut messages = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        bad.total += 1;
        match message(topic, &events, line) {
            Ok(m) => messages.push(m),
            Err(why) => bad.lines.push((i + 1, why)),
        }
    }
    if bad.lines.is_empty() {
        Ok(messages)
    } else {
        Err(bad)
    }
}

fn message(topic: &str, events: &[EventSchema], line: &str) -> Result<Message, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let event = match events[0].wire {
        Wire::Flat => &events[0],
        Wire::Enveloped => {
            let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
                return Err("an envelope needs a string \"type\"".into());
            };
            let found = events.iter().find(|e| e.types.contains(&kind));
            found.ok_or_else(|| {
                let expected: Vec<&str> = events
                    .iter()
                    .flat_map(|e| e.types.iter().copied())
                    .collect();
                format!(
                    "type {kind:?} does not travel on {topic} (expected one of {})",
                    expected.join(", ")
                )
            })?
        }
    };
    (event.to_message)(topic, line).map_err(|e| format!("not a valid {}: {e}", event.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_up(id: &str) -> String {
        serde_json::json!({
            "id": id, "type": "user.signed_up", "account_id": "a", "campaign_id": "c",
            "data": { "user_id": "u", "campaign_id": "c", "email": "u@example.com" },
            "timestamp": "2025-01-01T12:00:00Z"
        })
        .to_string()
    }

    #[test]
    fn good_lines_become_messages_with_id_key_and_type() {
        let text = format!("{}\n\n{}\n", signed_up("e1"), signed_up("e2"));
        let msgs = validate("domain-events", &text).expect("valid");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].id, "e1");
        assert_eq!(msgs[0].key.as_deref(), Some("c"));
        let event_type = msgs[0].headers.get(waitlist::headers::EVENT_TYPE);
        assert_eq!(event_type.map(String::as_str), Some("user.signed_up"));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let wrong_schema = signed_up("e3").replace("\"email\":\"u@example.com\"", "\"email\":7");
        let text = [
            signed_up("e1"),
            "{not json".to_owned(),
            wrong_schema,
            signed_up("e4").replace("user.signed_up", "job.email.welcome"),
            "{\"no\":\"type\"}".to_owned(),
        ]
        .join("\n");
        let bad = validate("domain-events", &text).expect_err("invalid");
        let numbers: Vec<usize> = bad.lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [2, 3, 4, 5]);
        let report = bad.report("f.jsonl");
        assert!(report.contains("f.jsonl:2: not JSON"), "{report}");
        assert!(
            report.contains("f.jsonl:3: not a valid UserSignedUp"),
            "{report}"
        );
        assert!(
            report.contains("does not travel on domain-events"),
            "{report}"
        );
        assert!(
            report.ends_with("4 of 5 lines are not valid events; nothing was published"),
            "{report}"
        );
    }

    #[test]
    fn flat_topics_take_their_one_event_and_unknown_topics_are_refused() {
        let joined = waitlist::events::examples::QUEUE_JOINED.replace('\n', " ");
        let msgs = validate("QUEUE_JOINED", &joined).expect("valid");
        assert_eq!(msgs[0].key.as_deref(), Some("string"));
        let bad = validate("no-such-topic", &joined).expect_err("unknown");
        assert!(bad.report("f").contains("unknown topic \"no-such-topic\""));
    }
}

//! Names of the SNS topics and SQS queues, and creating or finding them.
//!
//! For topic `T` and group `G` with prefix `P`:
//! - SNS topic `P` + `T` (fan-out to every group),
//! - SQS queue `P` + `T` + `--` + `G` (the group; members compete on it),
//!   subscribed to the topic with raw message delivery,
//! - SQS queue `P` + `T` + `--` + `G` + `-dlq` (its dead letters, the
//!   target of its redrive policy).
//!
//! FIFO names end in `.fifo`. Characters SQS and SNS do not allow become
//! `_`, and a name that had to change, or is longer than the services allow,
//! gets a short hash of the original so two names never meet.

use sha2::{Digest, Sha256};

use crate::config::QueueKind;

/// Longest SQS queue name.
const MAX_QUEUE_NAME: usize = 80;
/// Longest SNS topic name.
const MAX_TOPIC_NAME: usize = 256;

/// The names of one group's topology.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Names {
    /// SNS topic name.
    pub topic: String,
    /// Group queue name.
    pub queue: String,
    /// Dead-letter queue name.
    pub dead_letters: String,
}

impl Names {
    /// The names for `group` on `topic`.
    pub fn new(prefix: &str, kind: QueueKind, topic: &str, group: &str) -> Self {
        Self {
            topic: topic_name(prefix, kind, topic),
            queue: name(&format!("{prefix}{topic}--{group}"), kind, MAX_QUEUE_NAME),
            dead_letters: name(
                &format!("{prefix}{topic}--{group}-dlq"),
                kind,
                MAX_QUEUE_NAME,
            ),
        }
    }
}

/// The SNS topic name of `topic`.
pub fn topic_name(prefix: &str, kind: QueueKind, topic: &str) -> String {
    name(&format!("{prefix}{topic}"), kind, MAX_TOPIC_NAME)
}

fn name(raw: &str, kind: QueueKind, max: usize) -> String {
    let suffix = if kind == QueueKind::Fifo { ".fifo" } else { "" };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let room = max - suffix.len();
    if clean == raw && clean.len() <= room {
        return format!("{clean}{suffix}");
    }
    let hash = Sha256::digest(raw.as_bytes());
    let tag: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let keep = clean.len().min(room - tag.len() - 1);
    format!("{}-{tag}{suffix}", &clean[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept_and_fifo_gets_its_suffix() {
        let n = Names::new("p-", QueueKind::Standard, "domain-events", "email-workers");
        assert_eq!(n.topic, "p-domain-events");
        assert_eq!(n.queue, "p-domain-events--email-workers");
        assert_eq!(n.dead_letters, "p-domain-events--email-workers-dlq");
        let f = Names::new("", QueueKind::Fifo, "jobs", "job-workers");
        assert_eq!(f.queue, "jobs--job-workers.fifo");
        assert_eq!(f.dead_letters, "jobs--job-workers-dlq.fifo");
        assert_eq!(f.topic, "jobs.fifo");
    }

    #[test]
    fn changed_or_long_names_are_valid_and_distinct() {
        let a = Names::new("", QueueKind::Fifo, "notifications.email", "g");
        let b = Names::new("", QueueKind::Fifo, "notifications_email", "g");
        assert_ne!(a.queue, b.queue, "sanitised names must not collide");
        let long = "x".repeat(200);
        let c = Names::new("", QueueKind::Fifo, &long, "g1");
        let d = Names::new("", QueueKind::Fifo, &long, "g2");
        assert_ne!(c.queue, d.queue);
        for n in [&a.queue, &b.queue, &c.queue, &d.queue, &c.dead_letters] {
            assert!(n.len() <= MAX_QUEUE_NAME, "{n}");
            assert!(n.ends_with(".fifo"));
            let stem = n.trim_end_matches(".fifo");
            assert!(stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }
}

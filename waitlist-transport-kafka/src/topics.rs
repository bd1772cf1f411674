//! Topic names of a group.
//!
//! | topic | purpose |
//! |-------|---------|
//! | `T` | the topic itself; keys are partition keys |
//! | `T.G.retry` | the group's retries: a `waitlist-not-before` header says when each may run; the member holds early ones without blocking other partitions |
//! | `T.G.dlq` | the group's dead letters, with the failure headers |
//!
//! The consumer group `G.dlq-replay` marks how far the dead-letter topic has
//! been replayed.

/// The topics of group `group` on `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The topic.
    pub topic: String,
    /// The group's retry topic.
    pub retry: String,
    /// The group's dead-letter topic.
    pub dead_letters: String,
    /// The group that tracks replays of the dead-letter topic.
    pub replay_group: String,
}

impl Names {
    /// Names for `group` on `topic`.
    pub fn new(topic: &str, group: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            retry: format!("{topic}.{group}.retry"),
            dead_letters: format!("{topic}.{group}.dlq"),
            replay_group: format!("{group}.dlq-replay"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        let n = Names::new("job-events", "job-workers");
        assert_eq!(n.retry, "job-events.job-workers.retry");
        assert_eq!(n.dead_letters, "job-events.job-workers.dlq");
        assert_eq!(n.replay_group, "job-workers.dlq-replay");
    }
}

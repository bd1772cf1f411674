//! The default consumer-group names of the product documents (topics are
//! in [`topics`](super::topics)).

/// Consumer group sending emails for domain events.
pub const EMAIL_WORKERS: &str = "email-workers";
/// Consumer group recalculating positions (run it with one worker).
pub const POSITION_WORKERS: &str = "position-workers";
/// Consumer group delivering rewards.
pub const REWARD_WORKERS: &str = "reward-workers";
/// Consumer group processing background jobs.
pub const JOB_WORKERS: &str = "job-workers";
/// Consumer group delivering webhook events.
pub const WEBHOOK_CONSUMERS: &str = "webhook-consumers";

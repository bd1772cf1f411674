//! The product documents' example messages, as the documents write them
//! (placeholders such as `"uuid"` and `"a|b|c"` alternatives included). The
//! tests decode every one into its typed event; hosts and tools can use them
//! as fixtures. Each is a JSON file next to this module.

/// The example of `user.signed_up` (document 001).
pub const USER_SIGNED_UP: &str = include_str!("examples/user-signed-up.json");

/// The example of `user.verified` (document 001).
pub const USER_VERIFIED: &str = include_str!("examples/user-verified.json");

/// The example of `referral.created` (document 001).
pub const REFERRAL_CREATED: &str = include_str!("examples/referral-created.json");

/// The example of `referral.verified` (document 001).
pub const REFERRAL_VERIFIED: &str = include_str!("examples/referral-verified.json");

/// The example of `reward.earned` (document 001).
pub const REWARD_EARNED: &str = include_str!("examples/reward-earned.json");

/// The example of `campaign.milestone_reached` (document 001).
pub const CAMPAIGN_MILESTONE_REACHED: &str =
    include_str!("examples/campaign-milestone-reached.json");

/// The example of the email job `job.email.verification` (document 000).
pub const EMAIL_JOB: &str = include_str!("examples/email-job.json");

/// The example of the webhook event `user.created` (document 002).
pub const USER_CREATED: &str = include_str!("examples/user-created.json");

/// The example of a notification event (document 003).
pub const NOTIFICATION: &str = include_str!("examples/notification.json");

/// The example of the waiting room's queue-joined event (document 004).
pub const QUEUE_JOINED: &str = include_str!("examples/queue-joined.json");

/// The example of the queue-left event (document 004; `reason` lists its alternatives).
pub const QUEUE_LEFT: &str = include_str!("examples/queue-left.json");

/// The example of the queue-ready event (document 004).
pub const QUEUE_READY: &str = include_str!("examples/queue-ready.json");

/// The example of the checkout-completed event (document 004).
pub const CHECKOUT_COMPLETED: &str = include_str!("examples/checkout-completed.json");

/// The example of the checkout-failed event (document 004; `reason` lists its alternatives).
pub const CHECKOUT_FAILED: &str = include_str!("examples/checkout-failed.json");

/// The example of the checkout-expired event (document 004).
pub const CHECKOUT_EXPIRED: &str = include_str!("examples/checkout-expired.json");

/// Every example, by the name of its constant.
pub const ALL: &[(&str, &str)] = &[
    ("USER_SIGNED_UP", USER_SIGNED_UP),
    ("USER_VERIFIED", USER_VERIFIED),
    ("REFERRAL_CREATED", REFERRAL_CREATED),
    ("REFERRAL_VERIFIED", REFERRAL_VERIFIED),
    ("REWARD_EARNED", REWARD_EARNED),
    ("CAMPAIGN_MILESTONE_REACHED", CAMPAIGN_MILESTONE_REACHED),
    ("EMAIL_JOB", EMAIL_JOB),
    ("USER_CREATED", USER_CREATED),
    ("NOTIFICATION", NOTIFICATION),
    ("QUEUE_JOINED", QUEUE_JOINED),
    ("QUEUE_LEFT", QUEUE_LEFT),
    ("QUEUE_READY", QUEUE_READY),
    ("CHECKOUT_COMPLETED", CHECKOUT_COMPLETED),
    ("CHECKOUT_FAILED", CHECKOUT_FAILED),
    ("CHECKOUT_EXPIRED", CHECKOUT_EXPIRED),
];

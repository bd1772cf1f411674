//! The transport conformance suite (feature `conformance`).
//!
//! One `pub async fn` per behaviour of the [transport contract](crate::transport),
//! each taking a [`Harness`]. Every transport crate runs all of them with
//! [`conformance_tests!`](crate::conformance_tests), against its real broker;
//! the memory transport runs them on every `cargo test`. Tests use fresh
//! topic and group names, so they can share one broker and run in parallel.
//! Failures panic with a message that says which promise was broken.
//!
//! [`stores`] (with feature `product`) is the same for the store traits:
//! one generic suite that every store implementation runs.

mod behaviour;
mod codec;
pub mod interop;
mod limits;
mod runtime;
#[cfg(feature = "product")]
pub mod stores;
mod support;

pub use behaviour::*;
pub use codec::{assert_round_trip, sample_message};
pub use limits::*;
pub use runtime::*;
pub use support::{eventually, wait_for, wait_until, Harness, TestEvent, WAIT};

/// Generates one `#[tokio::test]` per conformance behaviour, except
/// [`broker_restart_loses_nothing`]: it disturbs every other test talking to
/// the broker, so each transport calls it from a test binary of its own
/// (cargo runs test binaries one after another).
///
/// `$make` is an async function returning `Option<Harness>`; `None` means the
/// broker is not reachable: the test then fails when
/// `WAITLIST_REQUIRE_BROKERS=1` and is skipped with a message otherwise.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            round_trip_with_key_and_headers,
            concurrent_publishers_lose_nothing,
            topics_are_isolated,
            nacked_message_is_redelivered_with_next_attempt,
            per_key_order_is_kept,
            every_group_gets_every_message,
            members_of_a_group_split_the_load,
            close_and_resubscribe_loses_nothing,
            unsettled_delivery_of_dropped_member_is_redelivered,
            dead_letter_after_max_attempts_then_replay,
            delayed_retry_is_not_early_and_does_not_block_other_keys,
            publisher_close_flushes,
            malformed_payload_is_dead_lettered_and_consumer_continues,
            duplicate_ids_run_the_handler_once,
            graceful_shutdown_settles_in_flight_work,
            shutdown_deadline_abandons_work_for_redelivery,
            memory_stays_bounded_with_slow_handler,
            oversized_messages_are_dead_lettered_once
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                match $make().await {
                    Some(harness) => $crate::conformance::$name(&harness).await,
                    None => $crate::conformance::Harness::missing_broker(stringify!($name)),
                }
            }
        )*
    };
}

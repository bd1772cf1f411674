//! The broker and database benches of `waitlist` (see `benches/`): the SDK
//! against the raw clients on the same broker, in the same run. This
//! library is empty; the crate exists so that these benches and their raw
//! clients stay out of the facade's build.
//!
//! ```text
//! cargo bench -p waitlist-benches --bench kafka --features kafka
//! ```
//!
//! `scripts/bench.sh` runs them with the facade's own benches and prints
//! one table.

//! One observer of a running group: its counters (for [`GroupStats`]) and
//! its metric handles (for the installed `metrics` recorder), updated
//! together by one call per event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::metrics::{
    DEAD_LETTERED, HANDLER_PANICS, IN_FLIGHT, PROCESSED, PROCESSING_SECONDS, RETRIED,
    SETTLE_ERRORS, SUBSCRIPTION_ERRORS,
};
use super::GroupStats;

/// What a settled delivery counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Done,
    Skipped,
    Unrouted,
    Duplicate,
    Retried,
    DeadLettered,
}

/// Metric handles of one event type: one counter per outcome label and the
/// handler-time histogram.
#[derive(Debug)]
struct TypeMetrics {
    outcomes: [metrics::Counter; OUTCOMES.len()],
    seconds: metrics::Histogram,
}

const OUTCOMES: [&str; 5] = ["done", "skip", "retry", "dead_letter", "duplicate"];

impl TypeMetrics {
    fn new(group: &str, event_type: &str) -> Self {
        let counter = |outcome: &'static str| metrics::counter!(PROCESSED, "group" => group.to_owned(), "event_type" => event_type.to_owned(), "outcome" => outcome);
        Self {
            outcomes: OUTCOMES.map(counter),
            seconds: metrics::histogram!(PROCESSING_SECONDS, "group" => group.to_owned(), "event_type" => event_type.to_owned()),
        }
    }

    fn outcome(&self, label: &str) -> &metrics::Counter {
        let i = OUTCOMES.iter().position(|o| *o == label).unwrap_or(0);
        &self.outcomes[i]
    }
}

/// Counters and metric handles of one group member, registered once when
/// the group starts (the hot path does no label allocation or registry
/// lookup). Handles bind to the recorder installed at that moment.
#[derive(Debug)]
pub(crate) struct Observer {
    by_type: HashMap<Arc<str>, TypeMetrics>,
    unknown: TypeMetrics,
    retried_total: metrics::Counter,
    dead_lettered_total: metrics::Counter,
    settle_errors_total: metrics::Counter,
    panics_total: metrics::Counter,
    subscription_errors_total: metrics::Counter,
    in_flight_gauge: metrics::Gauge,
    done: AtomicU64,
    skipped: AtomicU64,
    unrouted: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    duplicates: AtomicU64,
    settle_errors: AtomicU64,
    panics: AtomicU64,
    subscription_errors: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    pub(crate) abandoned: AtomicUsize,
}

impl Observer {
    pub(crate) fn new<'a>(group: &str, event_types: impl Iterator<Item = &'a Arc<str>>) -> Self {
        let g = || group.to_owned();
        Self {
            by_type: event_types
                .map(|t| (Arc::clone(t), TypeMetrics::new(group, t)))
                .collect(),
            unknown: TypeMetrics::new(group, "unknown"),
            retried_total: metrics::counter!(RETRIED, "group" => g()),
            dead_lettered_total: metrics::counter!(DEAD_LETTERED, "group" => g()),
            settle_errors_total: metrics::counter!(SETTLE_ERRORS, "group" => g()),
            panics_total: metrics::counter!(HANDLER_PANICS, "group" => g()),
            subscription_errors_total: metrics::counter!(SUBSCRIPTION_ERRORS, "group" => g()),
            in_flight_gauge: metrics::gauge!(IN_FLIGHT, "group" => g()),
            done: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            unrouted: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            settle_errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            subscription_errors: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
        }
    }

    fn of(&self, event_type: &str) -> &TypeMetrics {
        self.by_type.get(event_type).unwrap_or(&self.unknown)
    }

    /// A delivery the transport took as `counted`; `label` is the
    /// handler's outcome label of the `processed` metric.
    pub(crate) fn settled(&self, event_type: &str, label: &str, counted: Counted) {
        let counter = match counted {
            Counted::Done => &self.done,
            Counted::Skipped => &self.skipped,
            Counted::Unrouted => {
                self.skipped.fetch_add(1, Relaxed);
                &self.unrouted
            }
            Counted::Duplicate => &self.duplicates,
            Counted::Retried => {
                self.retried_total.increment(1);
                &self.retried
            }
            Counted::DeadLettered => {
                self.dead_lettered_total.increment(1);
                &self.dead_lettered
            }
        };
        counter.fetch_add(1, Relaxed);
        self.of(event_type).outcome(label).increment(1);
    }

    pub(crate) fn handler_seconds(&self, event_type: &str, seconds: f64) {
        self.of(event_type).seconds.record(seconds);
    }

    pub(crate) fn settle_failed(&self) {
        self.settle_errors.fetch_add(1, Relaxed);
        self.settle_errors_total.increment(1);
    }

    pub(crate) fn panicked(&self) {
        self.panics.fetch_add(1, Relaxed);
        self.panics_total.increment(1);
    }

    pub(crate) fn subscription_failed(&self) {
        self.subscription_errors.fetch_add(1, Relaxed);
        self.subscription_errors_total.increment(1);
    }

    pub(crate) fn fetched(&self) {
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Relaxed);
        self.in_flight_gauge.increment(1.0);
    }

    pub(crate) fn released(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.in_flight_gauge.decrement(1.0);
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    pub(crate) fn snapshot(&self) -> GroupStats {
        GroupStats {
            done: self.done.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            unrouted: self.unrouted.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            settle_errors: self.settle_errors.load(Relaxed),
            panics: self.panics.load(Relaxed),
            subscription_errors: self.subscription_errors.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            peak_in_flight: self.peak_in_flight.load(Relaxed),
        }
    }
}

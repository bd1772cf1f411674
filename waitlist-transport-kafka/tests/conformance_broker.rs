//! The whole conformance suite against a real Kafka-protocol broker at
//! `KAFKA_BROKERS` (tansu, started by `scripts/services.sh`).

mod support;

waitlist_core::conformance_tests!(support::broker_harness);

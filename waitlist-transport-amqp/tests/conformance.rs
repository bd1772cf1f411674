//! The whole conformance suite against the local RabbitMQ.

mod support;

waitlist_core::conformance_tests!(support::harness);

//! The whole conformance suite against librdkafka's in-process mock cluster.

mod support;

waitlist_core::conformance_tests!(support::mock_harness);

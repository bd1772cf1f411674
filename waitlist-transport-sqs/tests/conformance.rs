//! The whole conformance suite against the local SQS/SNS emulator, on
//! standard queues.

mod support;

waitlist_core::conformance_tests!(support::standard);

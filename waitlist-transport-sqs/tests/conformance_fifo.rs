//! The whole conformance suite against the local SQS/SNS emulator, on FIFO
//! queues and topics (per-key order by message group, deduplication by id).

mod support;

waitlist_core::conformance_tests!(support::fifo);

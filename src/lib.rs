#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use waitlist_core::*;

/// The in-process transport (feature `memory`, on by default).
#[cfg(feature = "memory")]
pub use waitlist_transport_memory as memory;
#[cfg(feature = "memory")]
pub use waitlist_transport_memory::{MemoryBus, MemoryConfig};

/// The RabbitMQ transport (feature `amqp`).
#[cfg(feature = "amqp")]
pub use waitlist_transport_amqp as amqp;
#[cfg(feature = "amqp")]
pub use waitlist_transport_amqp::{AmqpConfig, AmqpTransport};

/// The Kafka transport (feature `kafka`).
#[cfg(feature = "kafka")]
pub use waitlist_transport_kafka as kafka;
#[cfg(feature = "kafka")]
pub use waitlist_transport_kafka::{KafkaConfig, KafkaTransport};

/// The Amazon SQS transport, with SNS fan-out (feature `sqs`).
#[cfg(feature = "sqs")]
pub use waitlist_transport_sqs as sqs;
#[cfg(feature = "sqs")]
pub use waitlist_transport_sqs::{QueueKind, SqsConfig, SqsTransport};

/// The PostgreSQL stores, idempotency and campaign lock (feature `postgres`).
#[cfg(feature = "postgres")]
pub use waitlist_postgres as postgres;
#[cfg(feature = "postgres")]
pub use waitlist_postgres::{Outbox, OutboxRelay, PgCampaignLock, PgStore};
/// Redis stores: waiting-room queues and sessions, idempotency keys
/// (feature `redis`).
#[cfg(feature = "redis")]
pub use waitlist_redis as redis;
#[cfg(feature = "redis")]
pub use waitlist_redis::RedisStore;

/// The names most host services need, in one import.
pub mod prelude {
    pub use waitlist_core::domain::{
        consumer_groups, start_workers, DomainConfig, DomainEventPublisher, DomainServices,
        JobProducer,
    };
    pub use waitlist_core::events::{groups, topics};
    pub use waitlist_core::events::{Envelope, EventData, FlatEvent};
    pub use waitlist_core::publish::{EventPublisher, PublishExt};
    pub use waitlist_core::runtime::{
        handler_fn, ConsumerGroup, Context, Handler, IntoOutcome, MemoryIdempotencyStore, Outcome,
        RetryPolicy, Router, RunningGroup, Transient, Workers,
    };
    // The store traits, unnamed: their methods work on `MemoryStore` (or any
    // store) without importing each trait.
    pub use waitlist_core::store::{
        AnalyticsStore as _, CampaignStore as _, EmailLogStore as _, FraudSignalStore as _,
        ReferralStore as _, RewardStore as _, UserStore as _,
    };
    pub use waitlist_core::templates::TemplateRenderer;
    pub use waitlist_core::transport::OrderingGuarantee;
    pub use waitlist_core::{Error, Message, Publisher, Queue, Result};

    #[cfg(feature = "memory")]
    pub use waitlist_transport_memory::{MemoryBus, MemoryConfig};
}

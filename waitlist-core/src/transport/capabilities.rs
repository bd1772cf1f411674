//! What differs between transports.

/// The ordering a transport or a consumer group provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderingGuarantee {
    /// No ordering.
    #[default]
    None,
    /// Messages with one partition key are handled one at a time, in order.
    PerKey,
}

/// A transport's description of itself; the conformance suite adapts to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Name of the transport (`memory`, `kafka`, `sqs`, `amqp`).
    pub name: &'static str,
    /// Ordering the broker itself keeps per key (before the runtime's
    /// per-key scheduler).
    pub ordering: OrderingGuarantee,
    /// Delayed redelivery by the broker's own means (no sleeping worker).
    pub native_delay: bool,
    /// Messages survive a broker restart.
    pub persistent: bool,
    /// The broker can be restarted by the conformance suite.
    pub restartable: bool,
    /// Largest payload in bytes the transport accepts.
    pub max_payload: usize,
    /// The broker itself drops a message whose id it has seen recently
    /// (SQS FIFO deduplication), so a re-published id may never be delivered.
    pub deduplicates_ids: bool,
}

impl Capabilities {
    /// A description with the given name and conservative defaults.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            ordering: OrderingGuarantee::None,
            native_delay: false,
            persistent: false,
            restartable: false,
            max_payload: 256 * 1024,
            deduplicates_ids: false,
        }
    }

    /// Sets the ordering the broker keeps per key.
    pub fn ordering(mut self, ordering: OrderingGuarantee) -> Self {
        self.ordering = ordering;
        self
    }

    /// Delayed redelivery by the broker's own means.
    pub fn native_delay(mut self) -> Self {
        self.native_delay = true;
        self
    }

    /// Messages survive a broker restart.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// The conformance suite may restart the broker.
    pub fn restartable(mut self) -> Self {
        self.restartable = true;
        self
    }

    /// Largest payload accepted from a publisher.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Whether the broker drops a re-published id it saw recently.
    pub fn deduplicates_ids(mut self, yes: bool) -> Self {
        self.deduplicates_ids = yes;
        self
    }
}

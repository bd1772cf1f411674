//! The whole conformance suite against the memory bus.

use std::sync::Arc;

use waitlist_core::conformance::Harness;
use waitlist_core::Publisher;
use waitlist_transport_memory::MemoryBus;

async fn harness() -> Option<Harness> {
    let bus = MemoryBus::new();
    let factory_bus = bus.clone();
    let mut h = Harness::new(
        Arc::new(bus.handle()),
        Arc::new(bus),
        Box::new(move || {
            let b = factory_bus.handle();
            Box::pin(async move { Ok(Arc::new(b) as Arc<dyn Publisher>) })
        }),
    );
    h.prefix = "memory".into();
    Some(h)
}

waitlist_core::conformance_tests!(harness);

/// The memory bus cannot be restarted: the behaviour reports itself not
/// applicable (and checks that the capabilities say so).
#[tokio::test]
async fn broker_restart_loses_nothing() {
    if let Some(h) = harness().await {
        waitlist_core::conformance::broker_restart_loses_nothing(&h).await;
    }
}

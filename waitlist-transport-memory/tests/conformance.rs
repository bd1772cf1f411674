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

//! Where released tickets go back: the inventory.

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::events::Ticket;
use crate::sync::lock;

/// The inventory could not take the tickets back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory unavailable: {0}")]
pub struct InventoryError(pub String);

/// Takes reserved tickets back when a checkout expires.
///
/// # Contract
/// `release` is idempotent per `order_id`: the checkout consumer may call it
/// again for the same order after a retry.
#[async_trait]
pub trait Inventory: Send + Sync + Debug {
    /// Puts `tickets` of `order_id` for `event_id` back on sale.
    ///
    /// # Errors
    /// [`InventoryError`] when a retry may succeed.
    async fn release(
        &self,
        order_id: &str,
        event_id: &str,
        tickets: &[Ticket],
    ) -> Result<(), InventoryError>;
}

/// An order whose tickets were released.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedOrder {
    /// The order.
    pub order_id: String,
    /// The ticketed event.
    pub event_id: String,
    /// The tickets put back.
    pub tickets: Vec<Ticket>,
}

/// Records releases (once per order) instead of touching a real inventory.
#[derive(Debug, Default)]
pub struct RecordingInventory {
    released: Mutex<Vec<ReleasedOrder>>,
}

impl RecordingInventory {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every order released so far.
    pub fn released(&self) -> Vec<ReleasedOrder> {
        lock(&self.released).clone()
    }
}

#[async_trait]
impl Inventory for RecordingInventory {
    async fn release(
        &self,
        order_id: &str,
        event_id: &str,
        tickets: &[Ticket],
    ) -> Result<(), InventoryError> {
        let mut released = lock(&self.released);
        if !released.iter().any(|r| r.order_id == order_id) {
            released.push(ReleasedOrder {
                order_id: order_id.to_owned(),
                event_id: event_id.to_owned(),
                tickets: tickets.to_vec(),
            });
        }
        Ok(())
    }
}

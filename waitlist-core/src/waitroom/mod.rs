//! The checkout side of a waiting room (document 004).
//!
//! - [`WaitroomService`]: users join the FIFO queue of a ticketed event
//!   ([`QueueStore`]), leave it, and are admitted to checkout while a slot
//!   is free ([`WaitroomBuilder::checkout_slots`]). Admission signs a
//!   [`CheckoutTokenSigner`] token valid for 15 minutes and publishes
//!   `QUEUE_READY`; joining and leaving publish `QUEUE_JOINED` and
//!   `QUEUE_LEFT` ([`QueueEventProducer`], keyed by `event_id`). A publish
//!   failure is logged and never fails the user's request.
//! - [`CheckoutConsumer`]: group `waitroom-service` on `CHECKOUT_COMPLETED`,
//!   `CHECKOUT_FAILED` and `CHECKOUT_EXPIRED`, calling a
//!   [`CheckoutEventHandler`] (the document's handler interface);
//!   [`WaitroomCheckoutHandler`] updates the session, frees the slot, admits
//!   the next user, and on expiry releases the tickets to the [`Inventory`].

mod checkout;
mod inventory;
mod memory;
mod model;
mod producer;
mod service;
mod store;
mod token;

pub use checkout::{
    CheckoutConsumer, CheckoutEventHandler, WaitroomCheckoutHandler, WAITROOM_SERVICE,
};
pub use inventory::{Inventory, InventoryError, RecordingInventory, ReleasedOrder};
pub use memory::MemoryWaitroomStore;
pub use model::{Session, SessionStatus, WaitroomError};
pub use producer::QueueEventProducer;
pub use service::{Joined, WaitroomBuilder, WaitroomConfig, WaitroomService};
pub use store::{QueueStore, SessionStore};
pub use token::{CheckoutClaims, CheckoutTokenSigner, TokenError, DEFAULT_CHECKOUT_WINDOW};

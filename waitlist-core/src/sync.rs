//! Small synchronisation helpers shared by the SDK's crates and tests.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the data when a holder panicked: every mutex of
/// the SDK guards state that stays consistent across a panic (counters,
/// maps updated in one step), so a poisoned lock is not an error here.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! Publishes from concurrent callers share batch requests.
//!
//! Each destination has a task with a bounded number of requests in flight.
//! A publish that fits in one batch becomes a job; while every slot is busy,
//! jobs queue and the next free slot takes as many whole jobs as fit in one
//! batch. Under light load a publish goes out at once (no linger); under
//! load, fifty callers publishing one message each cost five requests, not
//! fifty. A job is never split, so the messages of one publish keep their
//! order, and each caller gets the outcome of its own entries.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot, Semaphore};
use waitlist_core::{Error, Result};

use crate::send::{send_entries, Dest, Outgoing};
use crate::transport::Inner;

/// One caller's messages and where to report.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) items: Vec<Outgoing>,
    pub(crate) done: oneshot::Sender<Result<()>>,
}

impl Job {
    fn bytes(&self) -> usize {
        self.items.iter().map(|i| i.encoded.size).sum()
    }
}

/// Starts the batching task of `dest`.
pub(crate) fn start(inner: Weak<Inner>, dest: Dest, slots: usize) -> mpsc::UnboundedSender<Job> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(inner, dest, rx, slots));
    tx
}

async fn run(inner: Weak<Inner>, dest: Dest, mut rx: mpsc::UnboundedReceiver<Job>, slots: usize) {
    let slots = Arc::new(Semaphore::new(slots.max(1)));
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        // Waiting for a slot is what lets later jobs gather into one batch.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(strong) = inner.upgrade() else {
            let _ = first.done.send(Err(Error::Closed));
            return;
        };
        let (max_entries, max_bytes) = (strong.config.batch_size, strong.config.max_batch_bytes);
        let mut entries = first.items.len();
        let mut bytes = first.bytes();
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            if entries + job.items.len() > max_entries || bytes + job.bytes() > max_bytes {
                carry = Some(job);
                break;
            }
            entries += job.items.len();
            bytes += job.bytes();
            jobs.push(job);
        }
        let dest = dest.clone();
        tokio::spawn(async move {
            flush(&strong, &dest, jobs).await;
            drop(slot);
        });
    }
}

async fn flush(inner: &Inner, dest: &Dest, jobs: Vec<Job>) {
    let mut items = Vec::new();
    let mut owners = Vec::with_capacity(jobs.len());
    for job in jobs {
        owners.push((job.items.len(), job.done));
        items.extend(job.items);
    }
    let mut outcomes = send_entries(inner, dest, &items).await.into_iter();
    for (n, done) in owners {
        let mut result = Ok(());
        for outcome in outcomes.by_ref().take(n) {
            if let (Ok(()), Err(e)) = (&result, outcome) {
                result = Err(e);
            }
        }
        let _ = done.send(result);
    }
}

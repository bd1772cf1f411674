//! Deletes and visibility changes, batched across every delivery of the
//! transport: requests for one queue that arrive together, or within a
//! short linger while earlier batches are in flight, share one
//! `DeleteMessageBatch` or `ChangeMessageVisibilityBatch`; a lone request
//! goes at once. Each caller learns the outcome of its own
//! entry; a refused entry is retried on its own, never reported as done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use waitlist_core::{Error, Result};

use crate::metrics as m;
use crate::send::sdk_error;

/// What to do with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// Delete it (ack).
    Delete,
    /// Make it visible again after this many seconds (0 = now).
    Visibility(i32),
}

#[derive(Debug)]
pub(crate) struct Request {
    url: Arc<str>,
    pub(crate) handle: String,
    pub(crate) op: Op,
    pub(crate) done: Option<oneshot::Sender<Result<()>>>,
    tries: u32,
}

/// Handle to the batching task; cheap to clone, usable from `Drop`.
#[derive(Debug, Clone)]
pub(crate) struct Settler {
    tx: mpsc::UnboundedSender<Request>,
}

/// Settings of the batching task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SettlerConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) entry_retries: u32,
}

impl Settler {
    /// Starts the batching task on the current runtime.
    pub(crate) fn start(sqs: aws_sdk_sqs::Client, config: SettlerConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(sqs, config, rx, tx.downgrade()));
        Self { tx }
    }

    /// Applies `op` and waits for the outcome.
    pub(crate) async fn apply(&self, url: &Arc<str>, handle: &str, op: Op) -> Result<()> {
        self.begin(url, handle, op)
            .await
            .map_err(|_| Error::Closed)?
    }

    /// Applies `op`; the receiver yields the outcome (an error on it means
    /// the settler has stopped).
    pub(crate) fn begin(
        &self,
        url: &Arc<str>,
        handle: &str,
        op: Op,
    ) -> oneshot::Receiver<Result<()>> {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Request {
            url: Arc::clone(url),
            handle: handle.to_owned(),
            op,
            done: Some(done),
            tries: 0,
        });
        rx
    }

    /// A settler whose requests go to the returned receiver instead of SQS,
    /// for tests that play the service.
    #[cfg(test)]
    pub(crate) fn detached() -> (Self, mpsc::UnboundedReceiver<Request>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Applies `op` without waiting (heartbeats, releasing from `Drop`);
    /// failures are logged.
    pub(crate) fn fire(&self, url: &Arc<str>, handle: &str, op: Op) {
        let _ = self.tx.send(Request {
            url: Arc::clone(url),
            handle: handle.to_owned(),
            op,
            done: None,
            tries: 0,
        });
    }
}

async fn run(
    sqs: aws_sdk_sqs::Client,
    config: SettlerConfig,
    mut rx: mpsc::UnboundedReceiver<Request>,
    again: mpsc::WeakUnboundedSender<Request>,
) {
    let slots = Arc::new(Semaphore::new(config.max_in_flight));
    let mut pending: HashMap<(Arc<str>, Op), Vec<Request>> = HashMap::new();
    while let Some(first) = rx.recv().await {
        add(&mut pending, first);
        // With requests in flight, linger briefly so that concurrent settles
        // share a request; otherwise go at once (a lone caller never waits).
        let busy = slots.available_permits() < config.max_in_flight;
        let linger = if busy { config.linger } else { Duration::ZERO };
        while let Ok(r) = rx.try_recv() {
            add(&mut pending, r);
        }
        let deadline = tokio::time::Instant::now() + linger;
        loop {
            let full = pending.values().any(|v| v.len() >= config.batch_size);
            if full {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => add(&mut pending, r),
                Ok(None) | Err(_) => break,
            }
        }
        for ((url, op), mut requests) in pending.drain() {
            while !requests.is_empty() {
                let rest = requests.split_off(requests.len().min(config.batch_size));
                let batch = std::mem::replace(&mut requests, rest);
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (sqs, url, again) = (sqs.clone(), Arc::clone(&url), again.clone());
                tokio::spawn(async move {
                    flush(&sqs, &url, op, batch, &again, config.entry_retries).await;
                    drop(slot);
                });
            }
        }
    }
}

fn add(pending: &mut HashMap<(Arc<str>, Op), Vec<Request>>, r: Request) {
    pending
        .entry((Arc::clone(&r.url), r.op))
        .or_default()
        .push(r);
}

fn finish(r: Request, outcome: Result<()>) {
    // Without a caller waiting for it, a failure is logged here.
    let unseen = match r.done {
        Some(done) => done.send(outcome).err(),
        None => Some(outcome),
    };
    if let Some(Err(e)) = unseen {
        tracing::warn!(queue = %r.url, op = ?r.op, error = %e, "SQS visibility change failed");
    }
}

/// One batch request; refused entries that may succeed go back to the queue.
async fn flush(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    op: Op,
    batch: Vec<Request>,
    again: &mpsc::WeakUnboundedSender<Request>,
    retries: u32,
) {
    let failed = match settle_batch(sqs, url, &batch, op).await {
        Ok(failed) => failed,
        Err(e) => {
            let text = e.to_string();
            for r in batch {
                finish(r, Err(Error::Unavailable(text.clone().into())));
            }
            return;
        }
    };
    if !failed.is_empty() {
        m::failed_entries(
            match op {
                Op::Delete => "DeleteMessageBatch",
                Op::Visibility(_) => "ChangeMessageVisibilityBatch",
            },
            failed.len(),
        );
    }
    let mut failed: HashMap<usize, (String, bool)> = failed.into_iter().collect();
    for (i, mut r) in batch.into_iter().enumerate() {
        match failed.remove(&i) {
            None => finish(r, Ok(())),
            Some((reason, retry)) if retry && r.tries < retries => {
                r.tries += 1;
                match again.upgrade() {
                    Some(tx) => {
                        if let Err(mpsc::error::SendError(r)) = tx.send(r) {
                            finish(r, Err(Error::Closed));
                        }
                    }
                    None => finish(r, Err(Error::Closed)),
                }
                tracing::debug!(%reason, "batch entry refused; retrying it");
            }
            Some((reason, _)) => finish(r, Err(Error::Rejected(reason.into()))),
        }
    }
}

type Failed = Vec<(usize, (String, bool))>;

fn refused(f: &aws_sdk_sqs::types::BatchResultErrorEntry) -> (usize, (String, bool)) {
    let r = crate::send::Refused::from(f);
    (r.index, (r.reason, r.retry))
}

/// One batch entry per request, its index in `batch` as the entry id.
fn entries<E, B: std::error::Error + Send + Sync + 'static>(
    batch: &[Request],
    entry: impl Fn(String, &str) -> std::result::Result<E, B>,
) -> Result<Vec<E>> {
    let each = batch.iter().enumerate();
    each.map(|(i, r)| entry(i.to_string(), &r.handle).map_err(Error::rejected))
        .collect()
}

/// Deletes the batch's messages or sets their visibility timeout, as `op`
/// says, in one batch request.
async fn settle_batch(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    batch: &[Request],
    op: Op,
) -> Result<Failed> {
    use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry as Change;
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry as Delete;
    let failed = match op {
        Op::Delete => {
            let entries = entries(batch, |id, h| {
                Delete::builder().id(id).receipt_handle(h).build()
            });
            let req = sqs.delete_message_batch().queue_url(url);
            let out = req.set_entries(Some(entries?)).send().await;
            out.map_err(|e| sdk_error("DeleteMessageBatch", e))?.failed
        }
        Op::Visibility(secs) => {
            let entries = entries(batch, |id, h| {
                Change::builder()
                    .id(id)
                    .receipt_handle(h)
                    .visibility_timeout(secs)
                    .build()
            });
            let req = sqs.change_message_visibility_batch().queue_url(url);
            let out = req.set_entries(Some(entries?)).send().await;
            out.map_err(|e| sdk_error("ChangeMessageVisibilityBatch", e))?
                .failed
        }
    };
    Ok(failed.iter().map(refused).collect())
}

//! Listing and replaying a group's dead-letter queue.
//!
//! SQS has no peek: listing receives messages and makes them visible again
//! right away; replaying sends them to the group's queue (only that group,
//! not the topic) and deletes them from the dead-letter queue.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use waitlist_core::{headers, DeadLetterQueue, Headers, Message, Result};

use crate::codec;
use crate::send::{self, sdk_error, Dest, Outgoing};
use crate::settler::Op;
use crate::transport::{GroupQueues, Inner};

/// The dead-letter queue of one group.
#[derive(Debug)]
pub(crate) struct SqsDeadLetters {
    pub(crate) inner: Arc<Inner>,
    pub(crate) topic: String,
    pub(crate) queues: Arc<GroupQueues>,
}

/// A message received from the dead-letter queue.
struct Got {
    sqs_id: String,
    message: Message,
    handle: String,
    sent_at: u64,
}

impl SqsDeadLetters {
    /// Receives up to `max` (≤ 10) messages, hidden for `hide`.
    async fn receive(&self, max: usize, hide: Duration) -> Result<Vec<Got>> {
        let out = self
            .inner
            .sqs
            .receive_message()
            .queue_url(self.queues.dead_letters.as_ref())
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(1)
            .visibility_timeout(i32::try_from(hide.as_secs().max(1)).unwrap_or(30))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| sdk_error("ReceiveMessage", e))?;
        let mut got = Vec::new();
        for msg in out.messages.unwrap_or_default() {
            let Some(handle) = msg.receipt_handle.clone() else {
                continue;
            };
            let sys = |n: MessageSystemAttributeName| codec::system_attribute(&msg, n);
            let r = codec::Received::from_sdk(&msg);
            let mut message = match codec::decode(&self.topic, &r) {
                Ok(m) => m,
                Err(e) => {
                    // Keep it listable: raw body, the reason it cannot be read.
                    let mut m =
                        Message::new(&self.topic, r.body.as_bytes().to_vec()).with_id(r.sqs_id);
                    m.headers
                        .insert(headers::DEAD_LETTER_REASON.to_owned(), e.to_string());
                    m
                }
            };
            if let Some(origin) = message.headers.get(headers::ORIGIN_TOPIC) {
                message.topic.clone_from(origin);
            }
            if !message.headers.contains_key(headers::DEAD_LETTER_REASON) {
                // Moved by the redrive policy, not by the SDK.
                let receives =
                    sys(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or("?");
                message.headers.insert(
                    headers::DEAD_LETTER_REASON.to_owned(),
                    format!(
                        "redrive policy: received more than {} times without being settled",
                        self.inner.config.max_receive_count
                    ),
                );
                message
                    .headers
                    .entry(headers::DEAD_LETTER_ATTEMPTS.to_owned())
                    .or_insert_with(|| receives.to_owned());
            }
            let sent_at = sys(MessageSystemAttributeName::SentTimestamp)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            got.push(Got {
                sqs_id: r.sqs_id.to_owned(),
                message,
                handle,
                sent_at,
            });
        }
        Ok(got)
    }

    async fn release(&self, got: &[Got]) {
        let url = &self.queues.dead_letters;
        let waits = got
            .iter()
            .map(|g| self.inner.settler.apply(url, &g.handle, Op::Visibility(0)));
        for r in futures::future::join_all(waits).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "making a listed dead letter visible again failed; it reappears after its visibility timeout");
            }
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetters {
    async fn list(&self, limit: usize) -> Result<Vec<Message>> {
        let mut got: Vec<Got> = Vec::new();
        let mut seen = HashSet::new();
        while got.len() < limit {
            let batch = match self
                .receive(limit - got.len(), Duration::from_secs(30))
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    self.release(&got).await;
                    return Err(e);
                }
            };
            if batch.is_empty() {
                break;
            }
            for g in batch {
                if seen.insert(g.sqs_id.clone()) {
                    got.push(g);
                }
            }
        }
        self.release(&got).await;
        got.sort_by_key(|g| g.sent_at);
        Ok(got.into_iter().map(|g| g.message).collect())
    }

    async fn replay(&self, limit: usize) -> Result<usize> {
        let mut moved = 0;
        while moved < limit {
            let batch = self
                .receive(limit - moved, self.inner.config.visibility_timeout)
                .await?;
            if batch.is_empty() {
                break;
            }
            let none = Headers::new();
            let mut copies = Vec::with_capacity(batch.len());
            for g in &batch {
                let mut m = g.message.clone();
                m.topic.clone_from(&self.topic);
                m.headers.remove(headers::ATTEMPT);
                m.headers.remove(headers::NOT_BEFORE);
                copies.push(Outgoing::copy_of(&self.inner.config, &m, &none, false)?);
            }
            if let Err(e) = send::send_all(
                &self.inner,
                &Dest::Queue(self.queues.url.to_string()),
                copies,
            )
            .await
            {
                self.release(&batch).await;
                return Err(e);
            }
            let url = &self.queues.dead_letters;
            let deletes = batch
                .iter()
                .map(|g| self.inner.settler.apply(url, &g.handle, Op::Delete));
            for r in futures::future::join_all(deletes).await {
                // Sent but not deleted: replayed again later (a duplicate, not a loss).
                r?;
            }
            moved += batch.len();
        }
        Ok(moved)
    }
}

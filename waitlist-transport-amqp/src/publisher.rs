//! Publishing with pipelined publisher confirms.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::Confirmation;
use lapin::{BasicProperties, Channel};
use tokio::sync::Mutex;
use waitlist_core::{Error, Result};

use crate::codec;
use crate::connection::{backoff, unavailable, ConnectionManager};
use crate::metrics as m;
use crate::topology;
use waitlist_core::sync::lock;

/// One message to send: where, and what.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) payload: Bytes,
    pub(crate) properties: BasicProperties,
}

/// A channel in confirm mode shared by every publish of a transport.
///
/// Publishes of one call are sent back to back and their confirms awaited
/// together (pipelined). Every publish is `mandatory`: a message no queue
/// takes comes back and is reported as an error, never dropped silently.
#[derive(Debug)]
pub(crate) struct ConfirmChannel {
    conn: Arc<ConnectionManager>,
    channel: Mutex<Option<Channel>>,
    declared: std::sync::Mutex<HashSet<String>>,
}

impl ConfirmChannel {
    pub(crate) fn new(conn: Arc<ConnectionManager>) -> Self {
        Self {
            conn,
            channel: Mutex::new(None),
            declared: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// The live confirm channel, opened (and put in confirm mode) if needed.
    pub(crate) async fn channel(&self) -> Result<Channel> {
        let mut current = self.channel.lock().await;
        if let Some(ch) = current.as_ref() {
            if ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        let ch = self.conn.channel().await?;
        m::request("confirm.select");
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        *current = Some(ch.clone());
        Ok(ch)
    }

    /// Closes the channel; later publishes open a new one.
    pub(crate) async fn close(&self) {
        if let Some(ch) = self.channel.lock().await.take() {
            if ch.status().connected() {
                let _ = ch.close(200, "bye".into()).await;
            }
        }
    }

    fn is_declared(&self, name: &str) -> bool {
        lock(&self.declared).contains(name)
    }

    fn mark_declared(&self, name: &str) {
        lock(&self.declared).insert(name.to_owned());
    }

    /// Declares the topic exchange once per transport.
    pub(crate) async fn ensure_exchange(&self, exchange: &str) -> Result<()> {
        if self.is_declared(exchange) {
            return Ok(());
        }
        let ch = self.channel().await?;
        topology::declare_exchange(&ch, exchange).await?;
        self.mark_declared(exchange);
        Ok(())
    }

    /// Declares a retry queue once per transport.
    pub(crate) async fn ensure_retry_queue(
        &self,
        names: &topology::Names,
        level: std::time::Duration,
    ) -> Result<String> {
        let name = names.retry_queue(level);
        if self.is_declared(&name) {
            return Ok(name);
        }
        let ch = self.channel().await?;
        let name = topology::declare_retry_queue(&ch, names, level).await?;
        self.mark_declared(&name);
        Ok(name)
    }

    /// Sends `batch` and waits until the broker confirmed all of it. Messages
    /// whose publish or confirm was lost with the connection are sent again
    /// (up to `publish_attempts`).
    ///
    /// # Errors
    /// [`Error::Rejected`] when the broker nacks or returns a message;
    /// [`Error::Unavailable`] when the broker stays unreachable.
    pub(crate) async fn send(&self, batch: Vec<Outgoing>) -> Result<()> {
        let config = self.conn.config();
        for o in &batch {
            if o.payload.len() > config.max_payload {
                return Err(Error::TooLarge {
                    size: o.payload.len(),
                    limit: config.max_payload,
                });
            }
        }
        self.send_copies(batch).await
    }

    /// As [`send`](Self::send), for copies of messages the broker already
    /// delivered (retries, dead letters, replays): not held to the publish
    /// size limit, which guards what users publish. The body is the one the
    /// broker accepted before (RabbitMQ limits the body only), so the copy
    /// fits the broker's own limit.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub(crate) async fn send_copies(&self, batch: Vec<Outgoing>) -> Result<()> {
        let config = self.conn.config();
        // Names AMQP cannot carry fail the whole batch before any is sent.
        for o in &batch {
            codec::short(&o.exchange, "the exchange name")?;
            codec::short(&o.routing_key, "the routing key")?;
        }
        let mut pending = batch;
        let mut attempt = 0;
        loop {
            let (failed, last) = match self.channel().await {
                Ok(ch) => self.send_once(&ch, &pending).await?,
                Err(e) => ((0..pending.len()).collect(), e),
            };
            if failed.is_empty() {
                return Ok(());
            }
            attempt += 1;
            if attempt >= config.publish_attempts {
                return Err(last);
            }
            tracing::warn!(error = %last, unconfirmed = failed.len(), attempt, "publish not confirmed; sending again");
            pending = failed
                .into_iter()
                .filter_map(|i| pending.get(i).cloned())
                .collect();
            tokio::time::sleep(backoff(attempt, config)).await;
        }
    }

    /// One pass: returns the indexes that must be sent again and the last
    /// connection error; broker refusals are returned as `Err` at once.
    async fn send_once(&self, ch: &Channel, batch: &[Outgoing]) -> Result<(Vec<usize>, Error)> {
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let mut confirms = Vec::with_capacity(batch.len());
        let mut failed = Vec::new();
        let mut last = Error::Unavailable("not sent".into());
        for (i, o) in batch.iter().enumerate() {
            let exchange = codec::short(&o.exchange, "the exchange name")?;
            let routing_key = codec::short(&o.routing_key, "the routing key")?;
            m::request("basic.publish");
            match ch
                .basic_publish(
                    exchange,
                    routing_key,
                    options,
                    &o.payload,
                    o.properties.clone(),
                )
                .await
            {
                Ok(confirm) => confirms.push((i, confirm)),
                Err(e) => {
                    failed.push(i);
                    last = unavailable(e);
                }
            }
        }
        for (i, confirm) in confirms {
            match confirm.await {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(returned))) => {
                    let o = &batch[i];
                    return Err(Error::Rejected(format!(
                        "message returned as unroutable by exchange {:?} (routing key {:?}): {} {}; \
                         declare a consumer group on the topic before publishing",
                        o.exchange, o.routing_key, returned.reply_code, returned.reply_text
                    ).into()));
                }
                Ok(Confirmation::Nack(_)) => {
                    // RabbitMQ nacks a publish on an internal error of the
                    // queue: publishing again may succeed.
                    return Err(Error::Unavailable("the broker nacked the message".into()));
                }
                Ok(Confirmation::NotRequested) => {
                    // Never success: the channel was not in confirm mode.
                    return Err(Error::Rejected(
                        "publisher confirms were not enabled on the channel".into(),
                    ));
                }
                Err(e) => {
                    failed.push(i);
                    last = unavailable(e);
                }
            }
        }
        if !failed.is_empty() {
            let mut current = self.channel.lock().await;
            if current.as_ref().is_some_and(|c| c.id() == ch.id()) {
                *current = None;
            }
        }
        failed.sort_unstable();
        Ok((failed, last))
    }
}

//! One connection per transport, re-established with backoff when lost.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection};
use tokio::sync::Mutex;
use waitlist_core::{Error, Result};

use crate::config::{redact, AmqpConfig};
use crate::metrics as m;

/// Hands out channels on a live connection, reconnecting when needed.
#[derive(Debug)]
pub(crate) struct ConnectionManager {
    config: AmqpConfig,
    current: Mutex<Option<Arc<Connection>>>,
}

impl ConnectionManager {
    pub(crate) fn new(config: AmqpConfig) -> Self {
        Self {
            config,
            current: Mutex::new(None),
        }
    }

    pub(crate) fn config(&self) -> &AmqpConfig {
        &self.config
    }

    /// A live connection: the current one, or a new one after backoff.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the broker stays unreachable for the
    /// configured reconnect deadline.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>> {
        let mut current = self.current.lock().await;
        if let Some(conn) = current.as_ref() {
            if conn.status().connected() {
                return Ok(Arc::clone(conn));
            }
            tracing::warn!(url = %redact(&self.config.url), "AMQP connection lost; reconnecting");
        }
        let deadline = tokio::time::Instant::now() + self.config.reconnect_deadline;
        let mut pause = self.config.reconnect_initial;
        loop {
            m::request("connect");
            match Connection::connect(&self.config.url, self.config.properties.clone()).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *current = Some(Arc::clone(&conn));
                    tracing::info!(url = %redact(&self.config.url), "AMQP connected");
                    return Ok(conn);
                }
                Err(e) => {
                    m::reconnect_failed();
                    if tokio::time::Instant::now() + pause > deadline {
                        return Err(Error::Unavailable(
                            format!("cannot connect to {}: {e}", redact(&self.config.url)).into(),
                        ));
                    }
                    tracing::warn!(error = %e, ?pause, "AMQP connect failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.config.reconnect_max);
                }
            }
        }
    }

    /// A new channel on a live connection.
    ///
    /// # Errors
    /// As [`connection`](Self::connection), or when the channel cannot be opened.
    pub(crate) async fn channel(&self) -> Result<Channel> {
        let conn = self.connection().await?;
        m::request("channel.open");
        conn.create_channel().await.map_err(unavailable)
    }

    /// Closes the connection, if any.
    pub(crate) async fn close(&self) {
        if let Some(conn) = self.current.lock().await.take() {
            if conn.status().connected() {
                let _ = conn.close(200, "bye".into()).await;
            }
        }
    }
}

/// Maps a lapin error to the SDK's error: connection and channel problems
/// are [`Error::Unavailable`] (worth retrying), others [`Error::Rejected`].
pub(crate) fn unavailable(e: lapin::Error) -> Error {
    use lapin::ErrorKind as K;
    match e.kind() {
        K::IOError(_)
        | K::InvalidChannel(_)
        | K::InvalidChannelState(..)
        | K::InvalidConnectionState(_)
        | K::MissingHeartbeatError => Error::unavailable(e),
        _ => Error::rejected(e),
    }
}

/// Pause between reconnect attempts of a consumer.
pub(crate) fn backoff(attempt: u32, config: &AmqpConfig) -> Duration {
    let exp = attempt.min(16);
    config
        .reconnect_initial
        .saturating_mul(1 << exp)
        .min(config.reconnect_max)
}

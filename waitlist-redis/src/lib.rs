//! Redis stores for the `waitlist` SDK: the waiting room's queues and
//! sessions ([`QueueStore`], [`SessionStore`]) and the runtime's
//! [`IdempotencyStore`], shared by every process that talks to the same
//! Redis.
//!
//! One [`RedisStore`] holds one auto-reconnecting connection
//! ([`redis::aio::ConnectionManager`]); cloning it shares that connection.
//! After Redis restarts, the next command reconnects on its own.
//!
//! # Keys
//! Every key starts with the store's prefix (default `waitlist:`, see
//! [`RedisStore::with_prefix`]):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{prefix}queue:{event_id}` | sorted set | the queue, scored by an increasing sequence (FIFO) |
//! | `{prefix}queue-seq:{event_id}` | string | the sequence of that queue (`INCR`) |
//! | `{prefix}processing:{event_id}` | set | the sessions holding a checkout slot |
//! | `{prefix}session:{session_id}` | string | the session as JSON, expiring after the session TTL |
//! | `{prefix}idempotency:{key}` | string | `claimed` (expires after the lease) or `done` (after the TTL) |
//!
//! Enqueuing and admission each run as one Lua script, so concurrent
//! callers (in one process or many) never admit more sessions than there
//! are slots.
//!
//! # Errors
//! Connection loss, I/O errors, timeouts and "try again" answers of the
//! server are [`WaitroomError::Unavailable`] and [`Error::Unavailable`]
//! (transient). Data the store cannot read (a session that is not valid
//! JSON, a key of the wrong type) is reported with the key it concerns:
//! as [`Error::Rejected`] for idempotency keys and, since the waiting
//! room's error has no other store variant, as
//! [`WaitroomError::Unavailable`] whose message says what was wrong.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, FromRedisValue, RedisError, Script, ToRedisArgs};
use waitlist_core::error::Reason;
use waitlist_core::runtime::{Claim, IdempotencyStore};
use waitlist_core::waitroom::{QueueStore, Session, SessionStore, WaitroomError};
use waitlist_core::{Error, Result};

/// The Redis client crate this store is built on (for commands of your own
/// on [`RedisStore::connection`]).
pub use redis;

/// The prefix of every key unless [`RedisStore::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "waitlist:";

/// The Redis server used when `REDIS_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// How long a session is kept after its last write unless
/// [`RedisStore::with_session_ttl`] says otherwise (24 hours).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long connecting, and each command, may take before it fails as
/// unavailable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Connection attempts after the first, with a growing random delay.
const RECONNECT_ATTEMPTS: usize = 3;

/// Appends the session to the queue unless it is queued already; returns
/// its position (1 for the head).
///
/// KEYS: queue, sequence. ARGV: session id.
const ENQUEUE: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local seq = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], seq, ARGV[1])
end
return redis.call('ZRANK', KEYS[1], ARGV[1]) + 1
";

/// Moves the head of the queue into the processing set if fewer than
/// `slots` sessions are processing; returns it, or nil.
///
/// KEYS: queue, processing. ARGV: slots.
const ADMIT_NEXT: &str = r"
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return false
end
local head = redis.call('ZPOPMIN', KEYS[1], 1)
if #head == 0 then
  return false
end
redis.call('SADD', KEYS[2], head[1])
return head[1]
";

/// Claims the key for a lease unless it is claimed or done; answers
/// `acquired`, `in_progress` or `done`.
///
/// KEYS: key. ARGV: lease in milliseconds.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], 'claimed', 'NX', 'PX', ARGV[1]) then
  return 'acquired'
end
local state = redis.call('GET', KEYS[1])
if state == 'done' then
  return 'done'
elseif state == 'claimed' then
  return 'in_progress'
end
return state
";

/// Deletes the key only while it holds an unfinished claim.
///
/// KEYS: key.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == 'claimed' then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Queue, session and idempotency stores on one Redis server.
///
/// Clones share the connection. See the [crate documentation](crate) for
/// the keys it writes.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    session_ttl: Duration,
    enqueue: Script,
    admit_next: Script,
    claim: Script,
    release: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://host:port/db`).
    ///
    /// # Errors
    /// [`Error::Config`] for a URL the client does not accept,
    /// [`Error::Unavailable`] when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        // Errors name the server, never its password.
        let shown = waitlist_core::secrets::redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| Error::Config(Reason::caused_by(format!("redis url {shown}"), e)))?;
        // A few quick attempts per (re)connection: while Redis is down a
        // command fails as unavailable within about a second and a half
        // (the caller retries), and the next command tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(RECONNECT_ATTEMPTS)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| core_error(&format!("connecting to redis at {shown}"), e))?;
        Ok(Self {
            conn,
            prefix: DEFAULT_PREFIX.to_owned(),
            session_ttl: DEFAULT_SESSION_TTL,
            enqueue: Script::new(ENQUEUE),
            admit_next: Script::new(ADMIT_NEXT),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
        })
    }

    /// Connects to `REDIS_URL`, or to [`DEFAULT_URL`] when it is not set.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        Self::connect(&url).await
    }

    /// Starts every key with `prefix` instead of [`DEFAULT_PREFIX`] (one
    /// prefix per application or test keeps their keys apart).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keeps each session for `ttl` after its last insert or update
    /// (default [`DEFAULT_SESSION_TTL`]; at least one millisecond).
    #[must_use]
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a session is kept after its last write.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// The shared connection, for commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The key of the queue of `event_id`.
    pub fn queue_key(&self, event_id: &str) -> String {
        format!("{}queue:{event_id}", self.prefix)
    }

    fn sequence_key(&self, event_id: &str) -> String {
        format!("{}queue-seq:{event_id}", self.prefix)
    }

    /// The key of the processing set of `event_id`.
    pub fn processing_key(&self, event_id: &str) -> String {
        format!("{}processing:{event_id}", self.prefix)
    }

    /// The key of session `session_id`.
    pub fn session_key(&self, session_id: &str) -> String {
        format!("{}session:{session_id}", self.prefix)
    }

    /// The key of idempotency key `key`.
    pub fn idempotency_key(&self, key: &str) -> String {
        format!("{}idempotency:{key}", self.prefix)
    }

    /// Runs `script`, one of the queue's (`ENQUEUE`, `ADMIT_NEXT`), with
    /// `KEYS` the queue of `event_id` and `other_key` and `ARGV` `arg`;
    /// `what` says what it did, for the error.
    async fn run_queue_script<T: FromRedisValue>(
        &self,
        script: &Script,
        event_id: &str,
        other_key: String,
        arg: impl ToRedisArgs + Send,
        what: impl FnOnce() -> String + Send,
    ) -> Result<T, WaitroomError> {
        let mut conn = self.conn.clone();
        script
            .key(self.queue_key(event_id))
            .key(other_key)
            .arg(arg)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| waitroom_error(&what(), e))
    }

    fn session_json(session: &Session) -> Result<String, WaitroomError> {
        serde_json::to_string(session).map_err(|e| {
            WaitroomError::Unavailable(format!("session {} cannot be encoded: {e}", session.id))
        })
    }
}

/// Milliseconds of `d` for `PX`, which refuses zero: at least 1.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Whether trying the command again later may succeed.
fn is_transient(e: &RedisError) -> bool {
    use redis::{ErrorKind, RetryMethod};
    if e.kind() == ErrorKind::AuthenticationFailed {
        // Wrong credentials stay wrong.
        return false;
    }
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || !matches!(e.retry_method(), RetryMethod::NoRetry)
}

/// The SDK's error for a failed command: transient failures are
/// [`Error::Unavailable`], the rest [`Error::Rejected`].
fn core_error(what: &str, e: RedisError) -> Error {
    let reason = Reason::caused_by(what, e.clone());
    if is_transient(&e) {
        Error::Unavailable(reason)
    } else {
        Error::Rejected(reason)
    }
}

/// The waiting room's error for a failed command (it has only
/// [`WaitroomError::Unavailable`] for store failures; the message says
/// whether the server refused the data).
fn waitroom_error(what: &str, e: RedisError) -> WaitroomError {
    if is_transient(&e) {
        WaitroomError::Unavailable(format!("redis: {what}: {e}"))
    } else {
        WaitroomError::Unavailable(format!("redis refused {what}: {e}"))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert(&self, session: Session) -> Result<(), WaitroomError> {
        let json = Self::session_json(&session)?;
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(self.session_key(&session.id))
            .arg(json)
            .arg("PX")
            .arg(millis(self.session_ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| waitroom_error(&format!("storing session {}", session.id), e))
    }

    async fn get(&self, id: &str) -> Result<Session, WaitroomError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn
            .get(self.session_key(id))
            .await
            .map_err(|e| waitroom_error(&format!("reading session {id}"), e))?;
        let json = json.ok_or_else(|| WaitroomError::SessionNotFound(id.to_owned()))?;
        serde_json::from_str(&json).map_err(|e| {
            WaitroomError::Unavailable(format!(
                "session {id} in redis ({}) is not a valid session: {e}",
                self.session_key(id)
            ))
        })
    }

    async fn update(&self, session: &Session) -> Result<(), WaitroomError> {
        let json = Self::session_json(session)?;
        let mut conn = self.conn.clone();
        // XX: only an existing session; the TTL starts again.
        let written: Option<String> = redis::cmd("SET")
            .arg(self.session_key(&session.id))
            .arg(json)
            .arg("XX")
            .arg("PX")
            .arg(millis(self.session_ttl))
            .query_async(&mut conn)
            .await
            .map_err(|e| waitroom_error(&format!("updating session {}", session.id), e))?;
        match written {
            Some(_) => Ok(()),
            None => Err(WaitroomError::SessionNotFound(session.id.clone())),
        }
    }
}

#[async_trait]
impl QueueStore for RedisStore {
    async fn enqueue(&self, event_id: &str, session_id: &str) -> Result<u64, WaitroomError> {
        self.run_queue_script(
            &self.enqueue,
            event_id,
            self.sequence_key(event_id),
            session_id,
            || format!("enqueuing {session_id} for {event_id}"),
        )
        .await
    }

    async fn position(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<Option<u64>, WaitroomError> {
        let mut conn = self.conn.clone();
        let rank: Option<u64> = conn
            .zrank(self.queue_key(event_id), session_id)
            .await
            .map_err(|e| waitroom_error(&format!("position of {session_id} in {event_id}"), e))?;
        Ok(rank.map(|r| r + 1))
    }

    async fn remove(&self, event_id: &str, session_id: &str) -> Result<bool, WaitroomError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn
            .zrem(self.queue_key(event_id), session_id)
            .await
            .map_err(|e| waitroom_error(&format!("removing {session_id} from {event_id}"), e))?;
        Ok(removed > 0)
    }

    async fn queued(&self, event_id: &str) -> Result<usize, WaitroomError> {
        let mut conn = self.conn.clone();
        conn.zcard(self.queue_key(event_id))
            .await
            .map_err(|e| waitroom_error(&format!("counting the queue of {event_id}"), e))
    }

    async fn admit_next(
        &self,
        event_id: &str,
        slots: usize,
    ) -> Result<Option<String>, WaitroomError> {
        self.run_queue_script(
            &self.admit_next,
            event_id,
            self.processing_key(event_id),
            slots,
            || format!("admitting the next session of {event_id}"),
        )
        .await
    }

    async fn remove_from_processing(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<bool, WaitroomError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn
            .srem(self.processing_key(event_id), session_id)
            .await
            .map_err(|e| {
                waitroom_error(
                    &format!("freeing the slot of {session_id} in {event_id}"),
                    e,
                )
            })?;
        Ok(removed > 0)
    }

    async fn processing(&self, event_id: &str) -> Result<Vec<String>, WaitroomError> {
        let mut conn = self.conn.clone();
        let mut members: Vec<String> = conn
            .smembers(self.processing_key(event_id))
            .await
            .map_err(|e| waitroom_error(&format!("processing sessions of {event_id}"), e))?;
        // In order, as the memory store lists them.
        members.sort();
        Ok(members)
    }
}

#[async_trait]
impl IdempotencyStore for RedisStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim> {
        let mut conn = self.conn.clone();
        let state: String = self
            .claim
            .key(self.idempotency_key(key))
            .arg(millis(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| core_error(&format!("claiming idempotency key {key}"), e))?;
        match state.as_str() {
            "acquired" => Ok(Claim::Acquired),
            "in_progress" => Ok(Claim::InProgress),
            "done" => Ok(Claim::Done),
            other => Err(Error::Rejected(Reason::new(format!(
                "idempotency key {key} ({}) holds {other:?}, neither a claim nor a done marker",
                self.idempotency_key(key)
            )))),
        }
    }

    async fn complete(&self, key: &str, ttl: Duration) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(self.idempotency_key(key))
            .arg("done")
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| core_error(&format!("completing idempotency key {key}"), e))
    }

    async fn release(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        self.release
            .key(self.idempotency_key(key))
            .invoke_async::<u64>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| core_error(&format!("releasing idempotency key {key}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn px_is_never_zero() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}

//! The transactional outbox: a host stages its events in the same
//! transaction as its own rows, and a relay publishes them to any
//! [`Publisher`] once that transaction has committed.
//!
//! - [`Outbox::stage`] (and [`stage_event`](Outbox::stage_event) /
//!   [`stage_flat`](Outbox::stage_flat) for typed events and jobs) inserts
//!   into `outbox` on whatever executor the host passes — `&mut *tx` inside
//!   its transaction — and notifies the relays in the same statement;
//!   PostgreSQL delivers the notification at commit, and a rolled-back
//!   transaction stages nothing.
//! - [`OutboxRelay`] claims due rows in staging order, publishes them as one
//!   batch and marks them sent in the transaction that claimed them. It
//!   claims keys, not rows: a key's waiting rows are taken only under a
//!   transaction-level advisory lock on the key, read after the lock is
//!   held (rows without a key are locked `FOR UPDATE SKIP LOCKED`), so
//!   several relays (in one process or many) never claim a row twice and
//!   never publish one key's messages out of order. A failed batch is
//!   retried with exponential backoff; later rows of its keys wait for it.
//!   Relays wake on `LISTEN/NOTIFY` and poll as a fallback; sent rows are
//!   purged after a retention.
//! - [`Outbox::publisher`] is a [`Publisher`] that stages (each call its own
//!   transaction), so [`DomainEventPublisher`](waitlist_core::domain::DomainEventPublisher),
//!   [`JobProducer`](waitlist_core::domain::JobProducer) and the waiting room
//!   can publish through the outbox instead of logging and continuing when
//!   the broker is down.
//!
//! Delivery is at least once: a relay that dies between publishing and
//! committing publishes that batch again, with the same message ids, which
//! consumers deduplicate. Order per key is staging order within a
//! transaction and commit order across transactions.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{Executor, Postgres, Row};
use tokio::sync::watch;
use waitlist_core::events::{Envelope, EventData, FlatEvent};
use waitlist_core::{Error, Message, Publisher, Result};

use crate::PgStore;

/// Gauge: rows staged and not yet sent, by `schema`.
pub const BACKLOG: &str = "waitlist_outbox_backlog";
/// Gauge: age in seconds of the oldest row not yet sent, by `schema`
/// (0 when none).
pub const OLDEST_AGE: &str = "waitlist_outbox_oldest_age_seconds";
/// Counter: messages the relays published and marked sent, by `schema`.
pub const RELAYED: &str = "waitlist_outbox_relayed_total";
/// Counter: batches whose publish failed (and will be retried), by `schema`.
pub const FAILED_BATCHES: &str = "waitlist_outbox_failed_batches_total";

/// First key of the per-key advisory locks (two int4 keys: a space apart
/// from the one-key campaign locks and from the migration lock).
const KEY_LOCK_CLASS: i32 = 0x4f55_5442; // "OUTB"

/// A sqlx error as a transport-level error, transient or not as the
/// database says.
fn db_error(e: sqlx::Error) -> Error {
    Error::classified(crate::error::is_transient(&e), e)
}

/// The outbox table of one store's schema.
#[derive(Clone)]
pub struct Outbox {
    store: PgStore,
    channel: String,
    /// Stages of this value (and its clones) notify at most once per
    /// `notify_every`; see [`Outbox::with_notify_interval`].
    notify_every: Duration,
    /// When this value last notified, in microseconds since `epoch`.
    last_notify: Arc<AtomicU64>,
    epoch: std::time::Instant,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("schema", &self.store.schema())
            .field("channel", &self.channel)
            .finish()
    }
}

/// What is waiting in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Rows staged and not yet sent.
    pub pending: u64,
    /// Age of the oldest of them.
    pub oldest: Option<Duration>,
}

impl Outbox {
    /// The outbox in `store`'s schema (created by [`PgStore::migrate`]).
    pub fn new(store: &PgStore) -> Self {
        // Channel names are identifiers of at most 63 bytes; a truncated
        // schema only risks a spurious wake-up of another schema's relays.
        let schema: String = store.schema().chars().take(40).collect();
        Self {
            store: store.clone(),
            channel: format!("waitlist_outbox.{schema}"),
            notify_every: Duration::from_millis(20),
            last_notify: Arc::new(AtomicU64::new(u64::MAX)),
            epoch: std::time::Instant::now(),
        }
    }

    /// How often stages from this value (and its clones) send a
    /// notification (default 20 ms; zero: every stage). `NOTIFY` serialises
    /// the commits of the transactions that send it, which halves staging
    /// throughput under load; a relay woken by one keeps looking every
    /// 20 ms while rows keep coming, so the stages in between are not
    /// delayed either.
    #[must_use]
    pub fn with_notify_interval(mut self, every: Duration) -> Self {
        self.notify_every = every;
        self
    }

    /// Whether this stage should notify (and, if so, records that it did).
    fn take_notify(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        let every = u64::try_from(self.notify_every.as_micros()).unwrap_or(u64::MAX);
        let last = self.last_notify.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= every;
        due && self
            .last_notify
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The store whose schema holds the table.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Stages `messages` on `executor` — `&mut *tx` to make them part of the
    /// host's transaction, or the pool for a transaction of their own. One
    /// statement; the relays are notified when the transaction commits.
    ///
    /// # Errors
    /// When the database refuses or cannot be reached
    /// ([`Error::Unavailable`] if retrying may help).
    pub async fn stage<'c, E>(&self, executor: E, messages: &[Message]) -> Result<()>
    where
        E: Executor<'c, Database = Postgres>,
    {
        if messages.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(messages.len());
        let mut topics = Vec::with_capacity(messages.len());
        let mut keys = Vec::with_capacity(messages.len());
        let mut headers = Vec::with_capacity(messages.len());
        let mut payloads = Vec::with_capacity(messages.len());
        for m in messages {
            ids.push(m.id.as_str());
            topics.push(m.topic.as_str());
            keys.push(m.key.as_deref());
            headers.push(serde_json::to_string(&m.headers)?);
            payloads.push(m.payload.as_ref());
        }
        const INSERT: &str = "INSERT INTO {s}.outbox (message_id, topic, key, headers, payload)
             SELECT i, t, k, h::jsonb, p
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                 AS v(i, t, k, h, p)";
        let notify = self.take_notify();
        let sql = if notify {
            // The notification is delivered at commit, and never on rollback.
            self.store.sql(&format!(
                "WITH staged AS ({INSERT} RETURNING 1)
                 SELECT pg_notify($6, '') FROM (SELECT 1 FROM staged LIMIT 1) AS any_staged"
            ))
        } else {
            self.store.sql(INSERT)
        };
        let query = sqlx::query(&sql)
            .bind(ids)
            .bind(topics)
            .bind(keys)
            .bind(headers)
            .bind(payloads);
        let query = if notify {
            query.bind(&self.channel)
        } else {
            query
        };
        query.execute(executor).await.map_err(db_error)?;
        Ok(())
    }

    /// Stages an enveloped event or job for `topic`, keyed by its campaign
    /// as a direct publish would be; returns the event id.
    ///
    /// # Errors
    /// [`Error::Codec`] if the event does not encode; otherwise as
    /// [`stage`](Self::stage).
    pub async fn stage_event<'c, E, D>(
        &self,
        executor: E,
        topic: &str,
        event: &Envelope<D>,
    ) -> Result<String>
    where
        E: Executor<'c, Database = Postgres>,
        D: EventData,
    {
        let message = Message::from_envelope(topic, event)?;
        self.stage(executor, std::slice::from_ref(&message)).await?;
        Ok(message.id)
    }

    /// Stages a flat event for `topic`, keyed by its partition key.
    ///
    /// # Errors
    /// As [`stage_event`](Self::stage_event).
    pub async fn stage_flat<'c, E, F>(&self, executor: E, topic: &str, event: &F) -> Result<()>
    where
        E: Executor<'c, Database = Postgres>,
        F: FlatEvent,
    {
        let message = Message::from_flat(topic, event)?;
        self.stage(executor, std::slice::from_ref(&message)).await
    }

    /// A [`Publisher`] that stages instead of publishing (each call one
    /// transaction on the store's pool): wrap it in an
    /// [`EventPublisher`](waitlist_core::publish::EventPublisher) to send the
    /// typed publishers' events through the outbox.
    pub fn publisher(&self) -> Arc<dyn Publisher> {
        Arc::new(OutboxPublisher {
            outbox: self.clone(),
        })
    }

    /// A relay of this outbox to `publisher`, with the default settings.
    pub fn relay(&self, publisher: Arc<dyn Publisher>) -> OutboxRelay {
        OutboxRelay::new(self.clone(), publisher)
    }

    /// Rows waiting and the age of the oldest.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn backlog(&self) -> Result<Backlog> {
        let sql = self.store.sql(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(staged_at))::float8
             FROM {s}.outbox WHERE sent_at IS NULL",
        );
        let (pending, age): (i64, Option<f64>) = sqlx::query_as(&sql)
            .fetch_one(self.store.pool())
            .await
            .map_err(db_error)?;
        Ok(Backlog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest: age.map(|s| Duration::from_secs_f64(s.max(0.0))),
        })
    }

    /// Deletes rows sent more than `retention` ago; returns how many.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn purge_sent(&self, retention: Duration) -> Result<u64> {
        let sql = self.store.sql(
            "DELETE FROM {s}.outbox
             WHERE sent_at IS NOT NULL AND sent_at < now() - $1 * interval '1 microsecond'",
        );
        let done = sqlx::query(&sql)
            .bind(crate::error::micros(retention))
            .execute(self.store.pool())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    /// Claims up to `limit` rows for `tx`, in staging order.
    ///
    /// Keyed rows are claimed a key at a time: first the keys whose oldest
    /// waiting row is due, each under a transaction-level advisory lock
    /// (keys another relay holds are skipped); then, in a new statement —
    /// so its snapshot sees everything a relay that held one of these keys
    /// before has committed — those keys' waiting rows, of which each key
    /// gives its rows up to the first one still backing off. Rows without a
    /// key have no order to keep and are claimed `FOR UPDATE SKIP LOCKED`.
    async fn claim(&self, tx: &mut sqlx::PgConnection, limit: usize) -> Result<Vec<PgRow>> {
        let n = i64::try_from(limit).unwrap_or(i64::MAX);
        let heads = self.store.sql(
            "SELECT h.key FROM (
                 SELECT DISTINCT ON (key) key, id, next_attempt_at FROM {s}.outbox
                 WHERE sent_at IS NULL AND key IS NOT NULL
                 ORDER BY key, id) AS h
             WHERE h.next_attempt_at <= now()
             ORDER BY h.id
             LIMIT $1",
        );
        let candidates: Vec<String> = sqlx::query_scalar(&heads)
            .bind(n)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut rows = Vec::new();
        if !candidates.is_empty() {
            let locked: Vec<String> = sqlx::query_scalar(
                "SELECT k FROM UNNEST($1::text[]) AS k
                 WHERE pg_try_advisory_xact_lock($2, hashtext(k))",
            )
            .bind(&candidates)
            .bind(KEY_LOCK_CLASS)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            if !locked.is_empty() {
                let keyed = self.store.sql(
                    "SELECT id, message_id, topic, key, headers::text AS headers, payload,
                            next_attempt_at <= now() AS due
                     FROM {s}.outbox
                     WHERE sent_at IS NULL AND key = ANY($1)
                     ORDER BY id
                     LIMIT $2",
                );
                let found = sqlx::query(&keyed)
                    .bind(&locked)
                    .bind(n)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let mut waiting = std::collections::HashSet::new();
                for row in found {
                    let key: String = row.try_get("key").map_err(db_error)?;
                    let due: bool = row.try_get("due").map_err(db_error)?;
                    if !due {
                        waiting.insert(key);
                    } else if !waiting.contains(&key) {
                        rows.push(row);
                    }
                }
            }
        }
        if rows.len() < limit {
            let unkeyed = self.store.sql(
                "SELECT id, message_id, topic, key, headers::text AS headers, payload
                 FROM {s}.outbox
                 WHERE sent_at IS NULL AND key IS NULL AND next_attempt_at <= now()
                 ORDER BY id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED",
            );
            let more = sqlx::query(&unkeyed)
                .bind(i64::try_from(limit - rows.len()).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
            rows.extend(more);
            let mut by_id = Vec::with_capacity(rows.len());
            for row in rows {
                by_id.push((row.try_get::<i64, _>("id").map_err(db_error)?, row));
            }
            by_id.sort_by_key(|(id, _)| *id);
            rows = by_id.into_iter().map(|(_, row)| row).collect();
        }
        Ok(rows)
    }

    /// Claims up to `limit` due rows and publishes them; returns how many
    /// were sent (0 when nothing was due or the publish failed).
    async fn relay_once(&self, relay: &Settings, publisher: &dyn Publisher) -> Result<Claimed> {
        let mut tx = self.store.pool().begin().await.map_err(db_error)?;
        let rows = self.claim(&mut tx, relay.batch_size).await?;
        if rows.is_empty() {
            tx.commit().await.map_err(db_error)?;
            return Ok(Claimed::default());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.try_get::<i64, _>("id").map_err(db_error)?);
            messages.push(message_of(row)?);
        }
        let claimed = rows.len();
        // Sent rows are marked, failed ones back off; either way in the
        // claiming transaction, whose commit releases the keys.
        let failure = publisher.publish(messages).await.err();
        match &failure {
            None => {
                let sent = self
                    .store
                    .sql("UPDATE {s}.outbox SET sent_at = now() WHERE id = ANY($1)");
                sqlx::query(&sent).bind(&ids).execute(&mut *tx).await
            }
            Some(e) => {
                let retry = self.store.sql(
                    "UPDATE {s}.outbox SET
                         attempts = attempts + 1,
                         last_error = $2,
                         next_attempt_at = now() + LEAST($4::float8,
                             $3::float8 * power(2, LEAST(attempts, 30))) * interval '1 second'
                     WHERE id = ANY($1)",
                );
                sqlx::query(&retry)
                    .bind(&ids)
                    .bind(e.to_string())
                    .bind(relay.first_backoff.as_secs_f64())
                    .bind(relay.max_backoff.as_secs_f64())
                    .execute(&mut *tx)
                    .await
            }
        }
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Claimed { claimed, failure })
    }
}

/// The message a claimed row holds. Header values that are not strings
/// (a row written by hand) are kept as their JSON text.
fn message_of(row: &PgRow) -> Result<Message> {
    let text: String = row.try_get("headers").map_err(db_error)?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_default();
    let headers = map
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    Ok(Message {
        id: row.try_get("message_id").map_err(db_error)?,
        topic: row.try_get("topic").map_err(db_error)?,
        key: row.try_get("key").map_err(db_error)?,
        headers,
        payload: row
            .try_get::<Vec<u8>, _>("payload")
            .map_err(db_error)?
            .into(),
    })
}

/// One claim: how many rows, and the publisher's error if it failed (the
/// rows then back off); otherwise all of them were sent.
#[derive(Debug, Default)]
struct Claimed {
    claimed: usize,
    failure: Option<Error>,
}

impl Claimed {
    fn sent(&self) -> usize {
        if self.failure.is_none() {
            self.claimed
        } else {
            0
        }
    }
}

/// Stages every publish in the outbox (see [`Outbox::publisher`]).
#[derive(Debug)]
struct OutboxPublisher {
    outbox: Outbox,
}

#[async_trait]
impl Publisher for OutboxPublisher {
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        self.outbox.stage(self.outbox.store.pool(), &messages).await
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    batch_size: usize,
    poll_interval: Duration,
    first_backoff: Duration,
    max_backoff: Duration,
    retention: Duration,
    purge_interval: Duration,
}

/// Publishes an outbox's staged messages; configure, then
/// [`start`](Self::start).
#[derive(Debug, Clone)]
pub struct OutboxRelay {
    outbox: Outbox,
    publisher: Arc<dyn Publisher>,
    settings: Settings,
}

impl OutboxRelay {
    /// A relay of `outbox` to `publisher`: batches of 256, polling every
    /// second besides the notifications, backoff from 200 ms doubling to
    /// 30 s, sent rows kept for one hour.
    pub fn new(outbox: Outbox, publisher: Arc<dyn Publisher>) -> Self {
        Self {
            outbox,
            publisher,
            settings: Settings {
                batch_size: 256,
                poll_interval: Duration::from_secs(1),
                first_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(30),
                retention: Duration::from_secs(3600),
                purge_interval: Duration::from_secs(60),
            },
        }
    }

    /// Messages per claim and per publish (at least 1).
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n.max(1);
        self
    }

    /// How often to look for due rows without a notification (retries of
    /// failed batches are found this way).
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.settings.poll_interval = every.max(Duration::from_millis(1));
        self
    }

    /// The wait after a batch's first failure, doubling per attempt up to
    /// `max`.
    #[must_use]
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.first_backoff = first;
        self.settings.max_backoff = max.max(first);
        self
    }

    /// How long sent rows are kept before the relay deletes them (zero:
    /// at the next purge).
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.settings.retention = retention;
        self
    }

    /// How often the relay purges sent rows and refreshes the backlog
    /// gauges.
    #[must_use]
    pub fn with_purge_interval(mut self, every: Duration) -> Self {
        self.settings.purge_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Claims, publishes and marks sent until nothing is due; returns how
    /// many messages were sent. For hosts that drive the relay themselves
    /// (a cron job, a test) instead of [`start`](Self::start).
    ///
    /// # Errors
    /// The first database error, or the publisher's error when a batch
    /// failed (its rows back off as in a running relay).
    pub async fn drain(&self) -> Result<u64> {
        let mut sent = 0u64;
        loop {
            let round = self
                .outbox
                .relay_once(&self.settings, self.publisher.as_ref())
                .await?;
            if let Some(e) = round.failure {
                return Err(e);
            }
            sent += round.sent() as u64;
            if round.claimed < self.settings.batch_size {
                return Ok(sent);
            }
        }
    }

    /// Starts relaying on the current runtime.
    pub fn start(self) -> RunningRelay {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(RelayStats::default());
        let task = tokio::spawn(run(self, stopped, Arc::clone(&stats)));
        RunningRelay {
            stop,
            task: Some(task),
            stats,
        }
    }
}

/// What a running relay has done so far.
#[derive(Debug, Default)]
pub struct RelayStats {
    relayed: AtomicU64,
    failed_batches: AtomicU64,
    idle: AtomicBool,
}

impl RelayStats {
    /// Messages published and marked sent.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }

    /// Batches whose publish failed (their rows were retried).
    pub fn failed_batches(&self) -> u64 {
        self.failed_batches.load(Ordering::Relaxed)
    }

    /// Whether the relay is idle: it found nothing due, listens for
    /// notifications (where it can) and waits for the full poll interval.
    pub fn is_idle(&self) -> bool {
        self.idle.load(Ordering::Relaxed)
    }
}

/// A started relay; dropping it stops the relay (a batch in flight is
/// rolled back and published again by the next relay).
#[derive(Debug)]
#[must_use = "dropping a RunningRelay stops it"]
pub struct RunningRelay {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<RelayStats>,
}

impl RunningRelay {
    /// What it has done so far.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// Stops after the batch in flight (if any) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn listen(outbox: &Outbox) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(outbox.store.pool()).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "outbox relay: cannot listen for notifications; polling");
            return None;
        }
    };
    match listener.listen(&outbox.channel).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "outbox relay: cannot listen for notifications; polling");
            None
        }
    }
}

async fn run(relay: OutboxRelay, mut stopped: watch::Receiver<bool>, stats: Arc<RelayStats>) {
    let OutboxRelay {
        outbox,
        publisher,
        settings,
    } = relay;
    let schema = outbox.store.schema().to_owned();
    let mut listener = listen(&outbox).await;
    let mut last_purge = tokio::time::Instant::now();
    let mut refresh_gauges = true;
    let mut active = false;
    loop {
        if *stopped.borrow() {
            return;
        }
        // Relay until a round finds less than a full batch due.
        let mut claimed_any = false;
        let more = match outbox.relay_once(&settings, publisher.as_ref()).await {
            Ok(round) => {
                claimed_any = round.claimed > 0;
                if round.sent() > 0 {
                    stats
                        .relayed
                        .fetch_add(round.sent() as u64, Ordering::Relaxed);
                    metrics::counter!(RELAYED, "schema" => schema.clone())
                        .increment(round.sent() as u64);
                }
                if let Some(e) = &round.failure {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(FAILED_BATCHES, "schema" => schema.clone()).increment(1);
                    tracing::warn!(
                        schema = %schema,
                        messages = round.claimed,
                        error = %e,
                        "outbox relay: publishing failed; the batch backs off and is retried"
                    );
                }
                round.failure.is_none() && round.claimed >= settings.batch_size
            }
            Err(e) => {
                tracing::warn!(schema = %schema, error = %e, "outbox relay: database error; retrying");
                false
            }
        };
        if last_purge.elapsed() >= settings.purge_interval || refresh_gauges {
            refresh_gauges = false;
            last_purge = tokio::time::Instant::now();
            if let Err(e) = outbox.purge_sent(settings.retention).await {
                tracing::warn!(schema = %schema, error = %e, "outbox relay: purge failed");
            }
            if let Ok(b) = outbox.backlog().await {
                metrics::gauge!(BACKLOG, "schema" => schema.clone()).set(b.pending as f64);
                metrics::gauge!(OLDEST_AGE, "schema" => schema.clone())
                    .set(b.oldest.map_or(0.0, |d| d.as_secs_f64()));
            }
        }
        if more {
            continue;
        }
        // Wait for a notification, the poll interval or the stop; while rows
        // keep coming (stages between two notifications do not notify),
        // look again soon.
        let timeout = if active {
            ACTIVE_POLL.min(settings.poll_interval)
        } else {
            settings.poll_interval
        };
        stats.idle.store(!active, Ordering::Relaxed);
        tokio::select! {
            _ = stopped.changed() => return,
            notified = wait(&mut listener, timeout) => {
                stats.idle.store(false, Ordering::Relaxed);
                active = notified || claimed_any;
                if listener.is_none() {
                    listener = listen(&outbox).await;
                }
            }
        }
    }
}

/// How soon a relay that just found work looks again.
const ACTIVE_POLL: Duration = Duration::from_millis(20);

/// Waits for a notification or `poll`; true when notified. A listener that
/// fails is dropped, to be opened again.
async fn wait(listener: &mut Option<PgListener>, poll: Duration) -> bool {
    let Some(l) = listener.as_mut() else {
        tokio::time::sleep(poll).await;
        return false;
    };
    match tokio::time::timeout(poll, l.recv()).await {
        Ok(Ok(_)) => true,
        Err(_) => false,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "outbox relay: notification listener failed; polling");
            *listener = None;
            false
        }
    }
}

impl PgStore {
    /// The outbox in this store's schema.
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self)
    }
}

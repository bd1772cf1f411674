//! Listing and replaying a group's dead-letter topic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message as _, Offset, TopicPartitionList};
use waitlist_core::{headers, DeadLetterQueue, Error, Headers, Message, Result};

use crate::codec;
use crate::producer::{map_err, Clients};
use crate::topics::Names;

/// The dead-letter topic of one group.
#[derive(Debug)]
pub(crate) struct KafkaDeadLetters {
    pub(crate) clients: Arc<Clients>,
    pub(crate) names: Names,
}

/// Reads up to `limit` records of the dead-letter topic after the replay
/// group's committed offsets, without committing.
fn read(
    clients: &Clients,
    names: &Names,
    limit: usize,
) -> Result<(BaseConsumer, Vec<OwnedMessage>)> {
    let consumer: BaseConsumer = clients
        .config
        .consumer(&names.replay_group)
        .create()
        .map_err(|e| Error::Config(format!("Kafka consumer: {e}").into()))?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(&names.dead_letters), timeout)
        .map_err(map_err)?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition(&names.dead_letters, p.id());
            let (_, high) = consumer
                .fetch_watermarks(&names.dead_letters, p.id(), timeout)
                .map_err(map_err)?;
            ends.push((p.id(), high));
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout).map_err(map_err)?;
    let mut start = TopicPartitionList::new();
    let mut remaining = 0;
    for e in committed.elements() {
        let from = match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        let high = ends
            .iter()
            .find(|(p, _)| *p == e.partition())
            .map_or(0, |(_, h)| *h);
        if from < high {
            remaining += high - from;
            let _ = start.add_partition_offset(
                &names.dead_letters,
                e.partition(),
                Offset::Offset(from),
            );
        }
    }
    let mut out = Vec::new();
    if remaining == 0 {
        return Ok((consumer, out));
    }
    consumer.assign(&start).map_err(map_err)?;
    let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(limit);
    let deadline = std::time::Instant::now() + timeout;
    while out.len() < want && std::time::Instant::now() < deadline {
        if let Some(r) = consumer.poll(Duration::from_millis(200)) {
            out.push(r.map_err(map_err)?.detach());
        }
    }
    Ok((consumer, out))
}

#[async_trait]
impl DeadLetterQueue for KafkaDeadLetters {
    async fn list(&self, limit: usize) -> Result<Vec<Message>> {
        let (clients, names) = (Arc::clone(&self.clients), self.names.clone());
        let (_, records) = tokio::task::spawn_blocking(move || read(&clients, &names, limit))
            .await
            .map_err(|e| Error::Other(Box::new(e)))??;
        let mut out: Vec<Message> = records.iter().map(codec::message).collect();
        for m in &mut out {
            if let Some(origin) = m.headers.get(headers::ORIGIN_TOPIC) {
                m.topic = origin.clone();
            }
        }
        Ok(out)
    }

    /// Sends dead letters back through the group's retry topic (due now,
    /// attempt reset), then commits the replay group past them.
    async fn replay(&self, limit: usize) -> Result<usize> {
        let (clients, names) = (Arc::clone(&self.clients), self.names.clone());
        let (consumer, records) =
            tokio::task::spawn_blocking(move || read(&clients, &names, limit))
                .await
                .map_err(|e| Error::Other(Box::new(e)))??;
        let mut done = TopicPartitionList::new();
        for r in &records {
            let mut m = codec::message(r);
            m.headers.remove(headers::ATTEMPT);
            let mut extra = Headers::new();
            extra.insert(headers::NOT_BEFORE.to_owned(), Utc::now().to_rfc3339());
            extra.insert(headers::ORIGIN_TOPIC.to_owned(), self.names.topic.clone());
            m.topic = self.names.topic.clone();
            self.clients
                .produce_copy(&m, &self.names.retry, &extra, false)
                .await?;
            let _ =
                done.add_partition_offset(r.topic(), r.partition(), Offset::Offset(r.offset() + 1));
        }
        let n = records.len();
        if n > 0 {
            tokio::task::spawn_blocking(move || consumer.commit(&done, CommitMode::Sync))
                .await
                .map_err(|e| Error::Other(Box::new(e)))?
                .map_err(map_err)?;
        }
        Ok(n)
    }
}

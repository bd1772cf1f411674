//! Listing and replaying a group's dead-letter queue.

use std::sync::Arc;

use async_trait::async_trait;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use waitlist_core::{headers, DeadLetterQueue, Message, Result};

use crate::codec;
use crate::connection::unavailable;
use crate::metrics as m;
use crate::publisher::Outgoing;
use crate::topology::Names;
use crate::transport::Inner;

/// The dead-letter queue `<topic>.<group>.dlq`.
#[derive(Debug)]
pub(crate) struct AmqpDeadLetters {
    pub(crate) inner: Arc<Inner>,
    pub(crate) topic: String,
    pub(crate) names: Names,
}

impl AmqpDeadLetters {
    /// The next dead letter (unacknowledged), if any is waiting.
    async fn next_dead_letter(
        &self,
        channel: &lapin::Channel,
    ) -> Result<Option<lapin::message::Delivery>> {
        m::request("basic.get");
        let got = channel
            .basic_get(
                self.names.dead_letters.as_str().into(),
                BasicGetOptions::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok(got.map(|g| g.delivery))
    }
}

#[async_trait]
impl DeadLetterQueue for AmqpDeadLetters {
    /// Gets up to `limit` messages without acknowledging them, then closes
    /// the channel, which puts them back in their places.
    async fn list(&self, limit: usize) -> Result<Vec<Message>> {
        let channel = self.inner.conn.channel().await?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(d) = self.next_dead_letter(&channel).await? else {
                break;
            };
            let topic = origin(&d.properties).unwrap_or_else(|| self.topic.clone());
            out.push(codec::message(&topic, &d.properties, d.data));
        }
        let _ = channel.close(200, "listed".into()).await;
        Ok(out)
    }

    async fn replay(&self, limit: usize) -> Result<usize> {
        let channel = self.inner.conn.channel().await?;
        let mut moved = 0;
        while moved < limit {
            let Some(d) = self.next_dead_letter(&channel).await? else {
                break;
            };
            let mut message = codec::message(&self.topic, &d.properties, d.data);
            message.headers.remove(headers::ATTEMPT);
            let out = Outgoing {
                exchange: String::new(),
                routing_key: self.names.queue.clone(),
                payload: message.payload.clone(),
                properties: codec::properties(&message, None)?,
            };
            self.inner.publisher.send_copies(vec![out]).await?;
            m::request("basic.ack");
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(unavailable)?;
            moved += 1;
        }
        let _ = channel.close(200, "replayed".into()).await;
        Ok(moved)
    }
}

fn origin(props: &lapin::BasicProperties) -> Option<String> {
    let table = props.headers().as_ref()?;
    table.inner().iter().find_map(|(k, v)| match v {
        lapin::types::AMQPValue::LongString(s) if k.as_str() == headers::ORIGIN_TOPIC => {
            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        _ => None,
    })
}

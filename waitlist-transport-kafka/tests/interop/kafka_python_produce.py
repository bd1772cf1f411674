"""Produces one record with kafka-python, as another service would.

usage: kafka_python_produce.py BROKERS TOPIC MESSAGE_ID KEY BODY_JSON

The record is sent alone and flushed at once (`linger_ms=0`), so it is a
batch of its own: the test broker (tansu 0.6) does not serve a fetch that
starts inside a record batch.
"""
import sys

from kafka import KafkaProducer

brokers, topic, message_id, key, body = sys.argv[1:6]
producer = KafkaProducer(
    bootstrap_servers=brokers.split(","),
    acks="all",
    linger_ms=0,
    # Pinned rather than probed: the request versions used do not depend on
    # what the broker advertises.
    api_version=(2, 8, 0),
)
future = producer.send(
    topic,
    key=key.encode("utf-8"),
    value=body.encode("utf-8"),
    headers=[
        ("waitlist-id", message_id.encode("utf-8")),
        ("waitlist-event-type", b"user.signed_up"),
        ("content-type", b"application/json"),
        ("x-origin", b"kafka-python"),
    ],
)
producer.flush(20)
future.get(timeout=20)
producer.close(5)

"""Produces one record with confluent-kafka, as another service would.

usage: confluent_produce.py BROKERS TOPIC MESSAGE_ID KEY BODY_JSON

One record per batch (`batch.num.messages=1`): the test broker (tansu 0.6)
does not serve a fetch that starts inside a record batch.
"""
import sys

from confluent_kafka import Producer

brokers, topic, message_id, key, body = sys.argv[1:6]
errors = []


def delivered(err, _msg):
    if err is not None:
        errors.append(err)


producer = Producer({
    "bootstrap.servers": brokers,
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 0,
    "batch.num.messages": 1,
})
producer.produce(
    topic,
    key=key.encode("utf-8"),
    value=body.encode("utf-8"),
    headers=[
        ("waitlist-id", message_id.encode("utf-8")),
        ("waitlist-event-type", b"user.signed_up"),
        ("content-type", b"application/json"),
        ("x-origin", b"confluent-kafka"),
    ],
    on_delivery=delivered,
)
if producer.flush(20) != 0:
    sys.exit("record not delivered within 20 s")
if errors:
    sys.exit("delivery failed: %s" % errors[0])

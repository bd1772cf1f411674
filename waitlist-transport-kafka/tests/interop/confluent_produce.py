"""Produces one record with confluent-kafka, as another service would.

usage: confluent_produce.py BROKERS TOPIC MESSAGE_ID KEY BODY_JSON

One record per batch (`batch.num.messages=1`): the test broker (tansu 0.6)
does not serve a fetch that starts inside a record batch.
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ for kafka_interop.py in the tree

from confluent_kafka import Producer

from kafka_interop import produced

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
producer.produce(topic, **produced(message_id, key, body, "confluent-kafka"), on_delivery=delivered)
if producer.flush(20) != 0:
    sys.exit("record not delivered within 20 s")
if errors:
    sys.exit("delivery failed: %s" % errors[0])

"""Produces one record with kafka-python, as another service would.

usage: kafka_python_produce.py BROKERS TOPIC MESSAGE_ID KEY BODY_JSON

The record is sent alone and flushed at once (`linger_ms=0`), so it is a
batch of its own: the test broker (tansu 0.6) does not serve a fetch that
starts inside a record batch.
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ for kafka_interop.py in the tree

from kafka import KafkaProducer

from kafka_interop import KAFKA_PYTHON_API_VERSION, produced

brokers, topic, message_id, key, body = sys.argv[1:6]
producer = KafkaProducer(
    bootstrap_servers=brokers.split(","),
    acks="all",
    linger_ms=0,
    api_version=KAFKA_PYTHON_API_VERSION,
)
future = producer.send(topic, **produced(message_id, key, body, "kafka-python"))
producer.flush(20)
future.get(timeout=20)
producer.close(5)

"""Reads one record with confluent-kafka (own group, from the beginning of
the topic) and prints it as JSON (key, headers, body).

usage: confluent_consume.py BROKERS TOPIC GROUP
"""
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ for kafka_interop.py in the tree

from confluent_kafka import Consumer

from kafka_interop import print_record

brokers, topic, group = sys.argv[1:4]
consumer = Consumer({
    "bootstrap.servers": brokers,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])
deadline = time.time() + 30
msg = None
while time.time() < deadline:
    m = consumer.poll(0.5)
    if m is None:
        continue
    if m.error():
        print("consumer error: %s" % m.error(), file=sys.stderr)
        continue
    msg = m
    break
if msg is None:
    consumer.close()
    sys.exit("no record in " + topic)
consumer.commit(message=msg, asynchronous=False)
print_record(msg.key(), msg.headers(), msg.value(), msg.partition(), msg.offset())
consumer.close()

"""Reads one record with confluent-kafka (own group, from the beginning of
the topic) and prints it as JSON (key, headers, body).

usage: confluent_consume.py BROKERS TOPIC GROUP
"""
import json
import sys
import time

from confluent_kafka import Consumer

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
headers = {k: (v.decode("utf-8") if v is not None else None) for k, v in (msg.headers() or [])}
print(json.dumps({
    "key": msg.key().decode("utf-8") if msg.key() is not None else None,
    "headers": headers,
    "body": msg.value().decode("utf-8"),
    "partition": msg.partition(),
    "offset": msg.offset(),
}))
consumer.close()

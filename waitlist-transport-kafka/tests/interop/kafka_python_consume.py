"""Reads one record with kafka-python (own group, from the beginning of the
topic) and prints it as JSON (key, headers, body).

usage: kafka_python_consume.py BROKERS TOPIC GROUP
"""
import json
import sys
import time

from kafka import KafkaConsumer

brokers, topic, group = sys.argv[1:4]
consumer = KafkaConsumer(
    topic,
    bootstrap_servers=brokers.split(","),
    group_id=group,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    # Pinned rather than probed: the request versions used do not depend on
    # what the broker advertises.
    api_version=(2, 8, 0),
)
deadline = time.time() + 30
msg = None
while msg is None and time.time() < deadline:
    for records in consumer.poll(timeout_ms=500, max_records=1).values():
        if records:
            msg = records[0]
            break
if msg is None:
    consumer.close()
    sys.exit("no record in " + topic)
consumer.commit()
headers = {k: (v.decode("utf-8") if v is not None else None) for k, v in (msg.headers or [])}
print(json.dumps({
    "key": msg.key.decode("utf-8") if msg.key is not None else None,
    "headers": headers,
    "body": msg.value.decode("utf-8"),
    "partition": msg.partition,
    "offset": msg.offset,
}))
consumer.close()

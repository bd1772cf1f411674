"""Reads one record with kafka-python (own group, from the beginning of the
topic) and prints it as JSON (key, headers, body).

usage: kafka_python_consume.py BROKERS TOPIC GROUP
"""
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ for kafka_interop.py in the tree

from kafka import KafkaConsumer

from kafka_interop import KAFKA_PYTHON_API_VERSION, print_record

brokers, topic, group = sys.argv[1:4]
consumer = KafkaConsumer(
    topic,
    bootstrap_servers=brokers.split(","),
    group_id=group,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    api_version=KAFKA_PYTHON_API_VERSION,
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
print_record(msg.key, msg.headers, msg.value, msg.partition, msg.offset)
consumer.close()

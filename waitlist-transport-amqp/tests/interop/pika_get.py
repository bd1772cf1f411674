"""Reads one message with pika and prints it as JSON (body, id, headers).

usage: pika_get.py URL QUEUE
"""
import json
import sys
import time

import pika

url, queue = sys.argv[1:3]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
deadline = time.time() + 20
while True:
    method, props, body = channel.basic_get(queue=queue, auto_ack=True)
    if method is not None:
        break
    if time.time() > deadline:
        sys.exit("no message in " + queue)
    time.sleep(0.1)
headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in (props.headers or {}).items()}
print(json.dumps({
    "body": body.decode("utf-8"),
    "message_id": props.message_id,
    "content_type": props.content_type,
    "delivery_mode": props.delivery_mode,
    "headers": headers,
}))
connection.close()

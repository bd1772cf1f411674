"""Publishes one message with pika, as another service of the product would.

usage: pika_publish.py URL EXCHANGE MESSAGE_ID KEY BODY_JSON
"""
import sys

import pika

url, exchange, message_id, key, body = sys.argv[1:6]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.confirm_delivery()
channel.basic_publish(
    exchange=exchange,
    routing_key="",
    body=body.encode("utf-8"),
    properties=pika.BasicProperties(
        message_id=message_id,
        content_type="application/json",
        delivery_mode=2,
        headers={"waitlist-key": key, "waitlist-event-type": "user.signed_up", "x-origin": "pika"},
    ),
    mandatory=True,
)
connection.close()

"""Receives and deletes one message with boto3 and prints it as JSON (body
and string attributes).

usage: boto3_receive.py ENDPOINT QUEUE_URL
"""
import json
import sys
import time

import boto3

endpoint, queue_url = sys.argv[1:3]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
deadline = time.time() + 30
while True:
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                              WaitTimeSeconds=2, MessageAttributeNames=["All"])
    messages = got.get("Messages", [])
    if messages:
        break
    if time.time() > deadline:
        sys.exit("no message in " + queue_url)
m = messages[0]
sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
attributes = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
print(json.dumps({"body": m["Body"], "attributes": attributes}))

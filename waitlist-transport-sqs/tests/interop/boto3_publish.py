"""Publishes one message with boto3: to an SNS topic with attributes, or
(with `--queue`) straight to an SQS queue with no attributes at all.

usage: boto3_publish.py ENDPOINT TOPIC_ARN MESSAGE_ID KEY BODY
       boto3_publish.py ENDPOINT --queue QUEUE_URL BODY
"""
import sys

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
if sys.argv[2] == "--queue":
    queue_url, body = sys.argv[3:5]
    boto3.client("sqs", **kw).send_message(QueueUrl=queue_url, MessageBody=body)
else:
    topic_arn, message_id, key, body = sys.argv[2:6]
    string = lambda v: {"DataType": "String", "StringValue": v}
    boto3.client("sns", **kw).publish(
        TopicArn=topic_arn,
        Message=body,
        MessageAttributes={
            "waitlist-message-id": string(message_id),
            "waitlist-key": string(key),
            "x-origin": string("boto3"),
        },
    )

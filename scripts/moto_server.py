"""moto's server (SQS, SNS) for the tests, with two of its hot paths made cheap.

moto checks every message's visibility on each request by building
datetimes, and recounts the whole queue for each message it receives (to
read the retention period). Both are linear in a queue's backlog and make
the emulator slow on the suite's volume tests. This launcher gives the
same values the cheap way -- the clock from time.time(), the retention
period from the queue itself -- and then runs moto's own server unchanged:
`python scripts/moto_server.py -H 127.0.0.1 -p 4566`.
"""

import time

import moto.sqs.models as sqs_models
from moto.server import main

_unix_time = sqs_models.unix_time


def unix_time(dt=None):
    return time.time() if dt is None else _unix_time(dt)


def unix_time_millis(dt=None):
    return unix_time(dt) * 1000.0


def is_message_valid_based_on_retention_period(self, queue_name, message):
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > time.time()


sqs_models.unix_time = unix_time
sqs_models.unix_time_millis = unix_time_millis
sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
    is_message_valid_based_on_retention_period
)

if __name__ == "__main__":
    main()

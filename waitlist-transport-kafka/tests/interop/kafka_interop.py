"""What the Kafka interop scripts share: the record another service of the
product produces, and how a record read is printed for the test.
"""
import json

# kafka-python's protocol version, pinned rather than probed: the request
# versions used do not depend on what the broker advertises.
KAFKA_PYTHON_API_VERSION = (2, 8, 0)


def produced(message_id, key, body, origin):
    """The key, value and headers (as keyword arguments of either client's
    produce call) of the documents' example, with the SDK's headers and an
    `x-origin` naming the client."""
    return {
        "key": key.encode("utf-8"),
        "value": body.encode("utf-8"),
        "headers": [
            ("waitlist-id", message_id.encode("utf-8")),
            ("waitlist-event-type", b"user.signed_up"),
            ("content-type", b"application/json"),
            ("x-origin", origin.encode("utf-8")),
        ],
    }


def print_record(key, headers, value, partition, offset):
    """Prints a record read as JSON: key, headers and body as text."""
    print(json.dumps({
        "key": key.decode("utf-8") if key is not None else None,
        "headers": {k: (v.decode("utf-8") if v is not None else None) for k, v in (headers or [])},
        "body": value.decode("utf-8"),
        "partition": partition,
        "offset": offset,
    }))

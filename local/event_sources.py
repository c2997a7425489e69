"""The AWS engines moto does not run, emulated with AWS's semantics for the local system:

- `matches`: EventBridge event patterns (Pipes filter criteria): the operators we use.
- `StreamPipe`: an EventBridge Pipe from a DynamoDB stream to an SQS FIFO queue: reads the
  stream's records in order, keeps those a filter matches, sends each as a message (`pipe_message`:
  the input template, the message group and deduplication ids at the target's JSON paths).
- `deduplicate_like_sqs`: FIFO deduplication for 5 minutes after a send, as SQS does it.
- `notify_like_s3`: S3's event notifications (moto delivers them to its SQS) with the key encoded
  as S3 encodes it, and a sequencer.
- `SqsEventSource`: Lambda's SQS event source mapping: receives up to `batch_size` messages,
  invokes the function with Lambda's SQS event, deletes what succeeded (ReportBatchItemFailures:
  all but the failures listed; a function error: none), and leaves the rest to reappear after the
  visibility timeout; SQS (moto) moves a message past `maxReceiveCount` to the dead-letter queue.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from clipsearch.work.messages import (
    STREAM_DEDUPLICATION_ID_PATH,
    STREAM_GROUP_ID_PATH,
    STREAM_MESSAGE_TEMPLATE,
)
from local.lambda_server import ACCOUNT, LocalLambda

_MISSING = object()
_TEMPLATE_PATH = re.compile(r"<(\$[^>]*)>")


def at_path(record: dict[str, Any], path: str) -> str:
    """The value at a JSON path such as `$.dynamodb.Keys.video_id.S` (the dotted paths Pipes takes
    for a target's parameters and an input template's placeholders)."""
    value: Any = record
    for name in path.removeprefix("$.").split("."):
        value = value[name]
    return str(value)


def pipe_message(record: dict[str, Any]) -> tuple[str, str, str]:
    """What the stack's Pipe sends for a stream record (table_stream_pipe.py, from the same
    constants): the input template's body, the message group and the deduplication id."""
    body = _TEMPLATE_PATH.sub(lambda match: at_path(record, match.group(1)), STREAM_MESSAGE_TEMPLATE)
    return body, at_path(record, STREAM_GROUP_ID_PATH), at_path(record, STREAM_DEDUPLICATION_ID_PATH)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """True when `event` matches the EventBridge event pattern (objects, value lists, `$or`,
    `anything-but`, `exists`, `prefix`)."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING or not matches(expected, value):
                return False
        elif not any(_leaf(rule, value) for rule in expected):
            return False
    return True


def _leaf(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return (value is not _MISSING) == rule["exists"]
        if value is _MISSING:
            return False
        if "anything-but" in rule:
            return value not in rule["anything-but"]
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        raise ValueError(f"operator not emulated: {rule}")
    return value is not _MISSING and (value == rule or (isinstance(value, list) and rule in value))


class StreamPipe:
    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        sqs: Any,
        queue_url: str,
        *,
        filters: list[dict[str, Any]],
        message: Callable[[dict[str, Any]], tuple[str, str, str]],  # record -> (body, group, dedup)
    ) -> None:
        self.streams, self.stream_arn, self.sqs, self.queue_url = streams, stream_arn, sqs, queue_url
        self.filters, self.message = filters, message
        self._iterators: dict[str, str] = {}
        self.filtered_out = 0

    def poll(self) -> int:
        """Read what is new in every shard; the number of messages sent."""
        sent = 0
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            page = self.streams.get_records(ShardIterator=self._iterators[shard_id])
            self._iterators[shard_id] = page["NextShardIterator"]
            for record in page["Records"]:
                if not any(matches(pattern, record) for pattern in self.filters):
                    self.filtered_out += 1
                    continue
                body, group, dedup = self.message(record)
                self.sqs.send_message(
                    QueueUrl=self.queue_url,
                    MessageBody=body,
                    MessageGroupId=group,
                    MessageDeduplicationId=dedup,
                )
                sent += 1
        return sent


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        local: LocalLambda,
        function_name: str,
        *,
        batch_size: int = 1,
        region: str,
    ) -> None:
        self.sqs, self.queue_url, self.local, self.function_name = sqs, queue_url, local, function_name
        self.batch_size = batch_size
        self.queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"
        self.region = region
        self.invocations = 0

    def poll(self) -> int:
        """One receive and one invocation; the number of messages received."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = {"Records": [self._record(message) for message in received]}
        payload, error = self.local.run(self.function_name, json.dumps(event).encode())
        self.invocations += 1
        if error is None:
            result = json.loads(payload) or {}
            failed = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
            done = [message for message in received if message["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        return len(received)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


class Poller:
    """Runs `poll()` functions on a background thread until stopped (the demo's always-on engines);
    `settle()` waits until a full round finds nothing to do."""

    def __init__(self, polls: list[Callable[[], int]], interval_s: float = 0.2) -> None:
        self.polls, self.interval_s = polls, interval_s
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-sources", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = sum(poll() for poll in self.polls)
            if busy:
                self._idle.clear()
            else:
                self._idle.set()
                self._stop.wait(self.interval_s)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def settle(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        self._idle.clear()
        while not self._idle.wait(0.05):
            if time.monotonic() > deadline:
                raise TimeoutError("the event sources did not settle")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def deduplicate_like_sqs() -> None:
    """Make moto's FIFO queues deduplicate as SQS does: a deduplication id is remembered for 5
    minutes after its message was sent, even once that message was received and deleted (moto only
    compares with messages still in the queue). Idempotent; affects this process's moto."""
    from moto.sqs import models

    if getattr(models.Queue.add_message, "remembers_deduplication_ids", False):
        return
    original = models.Queue.add_message

    def add_message(queue: Any, message: Any) -> None:
        if queue.fifo_queue and message.deduplication_id:
            sent: dict[str, int] = queue.__dict__.setdefault("_deduplication_ids_sent", {})
            last = sent.get(message.deduplication_id)
            if (
                last is not None
                and (message.sent_timestamp - last) / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS
            ):
                return  # accepted, never delivered
            sent[message.deduplication_id] = message.sent_timestamp
        original(queue, message)

    add_message.remembers_deduplication_ids = True  # type: ignore[attr-defined]
    models.Queue.add_message = add_message  # type: ignore[method-assign,assignment]


def notify_like_s3() -> None:
    """Make moto's S3 event notifications carry what S3's do: the key URL-encoded as S3 encodes it
    (spaces as '+', but '/' kept: moto encodes it as %2F) and a `sequencer` (S3's order of the
    events of one key; moto sends none). Idempotent; affects this process's moto."""
    from moto.s3 import notifications

    if getattr(notifications._get_s3_event, "like_s3", False):
        return
    original = notifications._get_s3_event
    sequence = itertools.count(1)

    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        built = original(event_name, bucket, key, notification_id)
        for record in built["Records"]:
            described = record["s3"]["object"]
            described["key"] = urllib.parse.quote_plus(key.name, safe="/")
            described["sequencer"] = f"{next(sequence):016X}"
        return built

    event.like_s3 = True  # type: ignore[attr-defined]
    notifications._get_s3_event = event

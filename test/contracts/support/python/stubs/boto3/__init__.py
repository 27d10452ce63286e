"""Stub of boto3 for the queue agent contract test: only what the agent calls.

The agent (guidance v1.2.0, src/backend/queue_agent/src) calls `boto3.resource('sqs'|'sns'|'s3')`
at import time, `Bucket(name).put_object(Body=, Key=, ContentType=)` in modules/s3_action.py, and
`boto3.client('s3')` for s3:// downloads in modules/http_action.py. The original input function
(src/frontend/input_function/v1alpha2/app.py) calls `boto3.client('sns').publish(...)`. Uploads and
publishes are recorded, not sent.
"""
import contract_recorder


class _Bucket:
    def __init__(self, name):
        self.name = name

    def put_object(self, **kwargs):
        body = kwargs.get("Body")
        contract_recorder.events.append({
            "kind": "s3.put_object",
            "bucket": self.name,
            "key": kwargs.get("Key"),
            "contentType": kwargs.get("ContentType"),
            "body": body.decode("latin-1") if isinstance(body, (bytes, bytearray)) else body,
        })
        return {}


class _Resource:
    def __init__(self, service):
        self.service = service

    def Queue(self, url):  # noqa: N802 (boto3's name)
        return url

    def Topic(self, arn):  # noqa: N802
        return arn

    def Bucket(self, name):  # noqa: N802
        return _Bucket(name)


def resource(service, *args, **kwargs):
    return _Resource(service)


class _SnsClient:
    def publish(self, **kwargs):
        contract_recorder.events.append({"kind": "sns.publish", "input": kwargs})
        return {"MessageId": "m-1"}


def client(service, *args, **kwargs):
    if service == "sns":
        return _SnsClient()
    raise AssertionError(f"the contract test does not expect a boto3 client for {service}")

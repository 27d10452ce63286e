"""Stub of boto3 for the queue agent contract test: only what the agent calls.

The agent (guidance v1.2.0, src/backend/queue_agent/src) calls `boto3.resource('sqs'|'sns'|'s3')`
at import time, `Bucket(name).put_object(Body=, Key=, ContentType=)` in modules/s3_action.py, and
`boto3.client('s3')` for s3:// downloads in modules/http_action.py. The original input functions
(src/frontend/input_function/v1alpha1/app.py and v1alpha2/app.py) call `boto3.client('sns').publish(...)`.
Uploads and publishes are recorded, not sent; a Publish that botocore or SNS would refuse raises.
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


# SNS's default MaximumMessageSize, counting the message and every attribute's name, type and value
# (https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html).
SNS_MAX_MESSAGE_BYTES = 262_144


def _publish_refusal(kwargs):
    """Why botocore or SNS would refuse this Publish, or None. Only what the input functions can
    send is checked: botocore's parameter validation (`StringValue` and `Message` are strings that
    encode as UTF-8), SNS refusing an empty attribute value (InvalidParameterValue; AWS does,
    localstack/localstack#6938 "allowing empty message attributes values, unlike AWS") and a
    message over SNS_MAX_MESSAGE_BYTES (InvalidParameter)."""
    message = kwargs.get("Message")
    if not isinstance(message, str):
        return f"ParamValidationError: Message must be a string, got {type(message).__name__}"
    size = len(message.encode("utf-8", "surrogatepass"))
    for name, attr in (kwargs.get("MessageAttributes") or {}).items():
        value = attr.get("StringValue")
        if not isinstance(value, str):
            return f"ParamValidationError: MessageAttributes.{name}.StringValue must be a string, got {type(value).__name__}"
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"UnicodeEncodeError: MessageAttributes.{name}.StringValue: {e}"
        if not encoded:
            return f"InvalidParameterValue: The message attribute '{name}' must contain non-empty message attribute value"
        size += len(name.encode("utf-8")) + len(attr.get("DataType", "").encode("utf-8")) + len(encoded)
    if size > SNS_MAX_MESSAGE_BYTES:
        return f"InvalidParameter: Message too long ({size} bytes)"
    return None


class PublishRefused(Exception):
    """What botocore or SNS raises for a Publish it refuses (see _publish_refusal)."""


class _SnsClient:
    def publish(self, **kwargs):
        refusal = _publish_refusal(kwargs)
        if refusal is not None:
            contract_recorder.events.append({"kind": "sns.refused", "reason": refusal})
            raise PublishRefused(refusal)
        contract_recorder.events.append({"kind": "sns.publish", "input": kwargs})
        return {"MessageId": "m-1"}


def client(service, *args, **kwargs):
    if service == "sns":
        return _SnsClient()
    raise AssertionError(f"the contract test does not expect a boto3 client for {service}")

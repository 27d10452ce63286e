"""Run one SQS message through the queue agent's own `process_message` (guidance v1.2.0,
src/backend/queue_agent/src/main.py), with the stub modules of ./stubs in place of boto3, requests
and the other packages it imports, and report every side effect.

Usage: python3 -I -B drive_queue_agent.py AGENT_SRC_DIR RESULT_FILE < request.json
request.json: {"runtimeType": "sdwebui"|"comfyui", "runtimeName": str, "sqsBody": str,
               "messageAttributes": {name: {"StringValue", "DataType"}}}
RESULT_FILE receives: {"logs": [[level, message]], "handlerCalls": [...], "events": [...],
               "deleted": bool, "published": [str], "exception": str | None}

Nothing of the agent is reimplemented: this file only builds the SQS message object the agent
receives (boto3's sqs.Message: `.body`, `.attributes`, `.message_attributes`, `.delete()`), the SNS
topic object it publishes to, and the runtime's answers, then calls the agent's function.
"""
import base64
import copy
import json
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_SRC, RESULT_FILE = sys.argv[1], sys.argv[2]
request = json.load(sys.stdin)

# Environment the chart gives the agent container (assumption: values of a test deployment).
os.environ.update({
    "RUNTIME_TYPE": request["runtimeType"],
    "RUNTIME_NAME": request["runtimeName"],
    "S3_BUCKET": "output-bucket",
    "SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:output",
    "SQS_QUEUE_URL": "https://sqs.us-west-2.amazonaws.com/123456789012/input",
    "AWS_DEFAULT_REGION": "us-west-2",
    "DISABLE_XRAY": "true",
})
sys.path[:0] = [os.path.join(HERE, "stubs"), AGENT_SRC]

import contract_recorder  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
PROMPT_ID = "prompt-1"


def respond(method, url, body):
    """What SD WebUI's API or ComfyUI's API answers (shapes as the agent's own code reads them)."""
    image = base64.b64encode(PNG + b"generated").decode()
    if method == "WS":  # ComfyUI: the "executing" frame with node None ends track_progress
        return json.dumps({"type": "executing", "data": {"node": None, "prompt_id": PROMPT_ID}})
    if url.endswith("txt2img") or url.endswith("img2img"):
        return {"images": [image], "parameters": {}, "info": json.dumps({"all_seeds": [1]})}
    if url.endswith("extra-single-image"):
        return {"image": image, "html_info": "<p>upscaled</p>"}
    if url.endswith("/prompt"):
        return {"prompt_id": PROMPT_ID}
    if url.endswith(f"/history/{PROMPT_ID}"):
        return {PROMPT_ID: {"outputs": {"9": {"images": [{"filename": "out.png", "subfolder": "", "type": "output"}]}}}}
    raise AssertionError(f"unexpected runtime call {method} {url}")


def download(url):
    if "/view?" in url:  # ComfyUI's generated image
        return PNG + b"generated"
    return PNG + url.encode()  # an input image the request names by URL


contract_recorder.respond = respond
contract_recorder.download = download


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append([record.levelname, record.getMessage()])


import main  # noqa: E402  (the agent's main.py; its import-time setup runs against the stubs)

# main.py replaces the handlers of its "queue-agent" logger with one on stdout: capture instead.
capture = Capture()
agent_logger = logging.getLogger("queue-agent")
agent_logger.handlers.clear()
agent_logger.addHandler(capture)
agent_logger.setLevel(logging.DEBUG)

handler_calls = []


def spy(module, kind):
    """Record what the agent hands its runtime handler, then run the real handler."""
    real = module.handler

    def wrapper(*args):
        handler_calls.append({"runtime": kind, "args": copy.deepcopy(list(args))})
        return real(*args)

    module.handler = wrapper


spy(main.sdwebui, "sdwebui")
spy(main.comfyui, "comfyui")


class Message:
    """What boto3's `Queue.receive_messages(AttributeNames=['All'], MessageAttributeNames=['All'])` yields."""

    def __init__(self, body, message_attributes):
        self.body = body
        self.attributes = {}
        self.message_attributes = message_attributes
        self.deleted = False

    def delete(self):
        self.deleted = True


class Topic:
    def __init__(self):
        self.published = []

    def publish(self, Message):  # noqa: N803 (boto3's name)
        self.published.append(Message)
        return {"MessageId": f"out-{len(self.published)}"}


message = Message(request["sqsBody"], request.get("messageAttributes", {}))
topic = Topic()
exception = None
try:
    main.process_message(message, topic, main.s3_bucket, main.runtime_type, main.runtime_name, main.api_base_url,
                         main.dynamic_sd_model if main.runtime_type == "sdwebui" else None)
except Exception as e:  # what would end the agent's receive loop (main.py, main), reported to the test
    exception = f"{type(e).__name__}: {e}"

with open(RESULT_FILE, "w", encoding="utf-8") as f:
    json.dump({
        "logs": capture.records,
        "handlerCalls": handler_calls,
        "events": contract_recorder.events,
        "deleted": message.deleted,
        "published": topic.published,
        "exception": exception,
    }, f)

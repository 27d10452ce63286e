"""Run an original input function (guidance v1.2.0, src/frontend/input_function/v1alpha1/app.py or
v1alpha2/app.py) on one API Gateway event, with the stub boto3 of ./stubs, and report what it published.

Usage: python3 -I -B drive_input_function.py APP_PY [HTTP_METHOD] RESULT_FILE < body
HTTP_METHOD defaults to POST (the only method API Gateway routes to it).
RESULT_FILE receives: {"response": {...}, "published": [Publish kwargs], "refused": [reasons]}; a
Publish the stub refuses (what botocore or SNS would refuse, stubs/boto3) raises in the function and
is listed in "refused", not in "published".
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
APP_PY, RESULT_FILE = sys.argv[1], sys.argv[-1]
METHOD = sys.argv[2] if len(sys.argv) == 4 else "POST"
body = sys.stdin.read()
os.environ.update({"S3_OUTPUT_BUCKET": "output-bucket", "SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:input"})
sys.path[:0] = [os.path.join(HERE, "stubs")]

import contract_recorder  # noqa: E402

spec = importlib.util.spec_from_file_location("input_function", APP_PY)
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
response = app.lambda_handler({"httpMethod": METHOD, "body": body, "headers": {}, "queryStringParameters": None}, None)
with open(RESULT_FILE, "w", encoding="utf-8") as f:
    json.dump({
        "response": response,
        "published": [e["input"] for e in contract_recorder.events if e["kind"] == "sns.publish"],
        "refused": [e["reason"] for e in contract_recorder.events if e["kind"] == "sns.refused"],
    }, f)

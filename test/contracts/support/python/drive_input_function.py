"""Run the original input function (guidance v1.2.0, src/frontend/input_function/v1alpha2/app.py)
on one API Gateway event, with the stub boto3 of ./stubs, and report what it published.

Usage: python3 -I -B drive_input_function.py APP_PY RESULT_FILE < body
RESULT_FILE receives: {"response": {...}, "published": [Publish kwargs]}
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
APP_PY, RESULT_FILE = sys.argv[1], sys.argv[2]
body = sys.stdin.read()
os.environ.update({"S3_OUTPUT_BUCKET": "output-bucket", "SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:input"})
sys.path[:0] = [os.path.join(HERE, "stubs")]

import contract_recorder  # noqa: E402

spec = importlib.util.spec_from_file_location("input_function", APP_PY)
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
response = app.lambda_handler({"httpMethod": "POST", "body": body, "headers": {}, "queryStringParameters": None}, None)
with open(RESULT_FILE, "w", encoding="utf-8") as f:
    json.dump({"response": response, "published": [e["input"] for e in contract_recorder.events if e["kind"] == "sns.publish"]}, f)

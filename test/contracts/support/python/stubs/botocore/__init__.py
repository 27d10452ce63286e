"""Stub package of botocore for the queue agent contract test (see ../boto3)."""

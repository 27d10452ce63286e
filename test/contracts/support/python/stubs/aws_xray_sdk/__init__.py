"""Stub package of aws_xray_sdk for the queue agent contract test: tracing does nothing."""

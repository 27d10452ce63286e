"""Stub of aioboto3: the queue agent creates `aioboto3.Session()` at import time and uses it only in
async helpers that process_message does not call."""


class Session:
    def resource(self, *args, **kwargs):
        raise AssertionError("the contract test does not expect aioboto3 calls")

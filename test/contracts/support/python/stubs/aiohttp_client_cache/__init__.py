"""Stub of aiohttp_client_cache: `CacheBackend(...)` is built at import time of
modules/http_action.py; the async download helper that uses it is not on process_message's path."""


class CacheBackend:
    def __init__(self, *args, **kwargs):
        pass


class CachedSession:
    def __init__(self, *args, **kwargs):
        raise AssertionError("the contract test does not expect async downloads")

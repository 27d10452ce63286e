"""Stub of requests: `Session().get/post` is the queue agent's call to the runtime
(modules/http_action.py, `do_invocations`); each call is recorded and answered by the driver."""
import contract_recorder

from . import adapters, exceptions  # noqa: F401  (the agent imports requests.adapters and requests.exceptions)


class Response:
    def __init__(self, payload=None, content=b""):
        self._payload = payload
        self.content = content
        self.text = "" if payload is None else repr(payload)
        self.status_code = 200

    def json(self):
        return self._payload

    def raise_for_status(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Session:
    def mount(self, prefix, adapter):
        return None

    def _call(self, method, url, body):
        contract_recorder.events.append({"kind": "http", "method": method, "url": url, "json": body})
        return Response(contract_recorder.respond(method, url, body))

    def get(self, url=None, timeout=None, **kwargs):
        return self._call("GET", url, None)

    def post(self, url=None, json=None, timeout=None, **kwargs):
        return self._call("POST", url, json)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

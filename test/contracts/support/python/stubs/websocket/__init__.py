"""Stub of websocket-client for runtimes/comfyui.py: `WebSocket().connect/recv`. Each received
frame comes from the driver (`contract_recorder.respond('WS', url, None)`)."""
import contract_recorder


class WebSocketConnectionClosedException(Exception):
    pass


class WebSocket:
    def __init__(self):
        self.url = None

    def connect(self, url):
        self.url = url
        contract_recorder.events.append({"kind": "ws.connect", "url": url})

    def recv(self):
        return contract_recorder.respond("WS", self.url, None)

"""Shared state of the stub modules: every side effect the queue agent has goes through here.

Not part of the queue agent: the driver (../drive_queue_agent.py) sets `respond` and `download`
and reads `events` after the agent's own code has run.
"""

# Every call the stubs saw, in order: dicts with a "kind" key.
events = []


def respond(method, url, body):
    """The runtime's answer to an HTTP call (set by the driver)."""
    raise AssertionError(f"no runtime answer configured for {method} {url}")


def download(url):
    """The bytes behind a URL the agent downloads (set by the driver)."""
    raise AssertionError(f"no download configured for {url}")

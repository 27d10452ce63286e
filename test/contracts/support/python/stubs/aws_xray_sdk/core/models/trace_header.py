"""`TraceHeader`, imported by the queue agent's main.py (only used in its receive loop)."""


class TraceHeader:
    def __init__(self, root=None, parent=None, sampled=None):
        self.root, self.parent, self.sampled = root, parent, sampled

    @classmethod
    def from_header_str(cls, header):
        return cls()

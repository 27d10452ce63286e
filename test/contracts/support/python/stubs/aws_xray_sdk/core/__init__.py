"""`patch_all` and `xray_recorder`, imported by the queue agent's main.py: no-ops."""
import contextlib


def patch_all():
    return None


class _Recorder:
    @contextlib.contextmanager
    def in_segment(self, name):
        yield self


xray_recorder = _Recorder()

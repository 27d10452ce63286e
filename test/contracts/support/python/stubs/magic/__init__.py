"""Stub of python-magic: `from_buffer(bytes, mime=True)` picks the extension of uploaded images
(modules/s3_action.py). Assumption: libmagic names PNG data `image/png` by its 8-byte signature;
the driver's runtime answers are PNG-signed bytes."""

PNG = b"\x89PNG\r\n\x1a\n"


def from_buffer(buffer, mime=False):
    return "image/png" if bytes(buffer).startswith(PNG) else "application/octet-stream"

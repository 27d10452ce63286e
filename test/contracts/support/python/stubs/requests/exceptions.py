"""`ReadTimeout` and `HTTPError`, imported by runtimes/sdwebui.py."""


class RequestException(Exception):
    pass


class ReadTimeout(RequestException):
    pass


class HTTPError(RequestException):
    pass

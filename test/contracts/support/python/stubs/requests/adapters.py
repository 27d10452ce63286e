"""`HTTPAdapter` and `Retry`, imported by modules/http_action.py: inert."""


class Retry:
    def __init__(self, *args, **kwargs):
        pass


class HTTPAdapter:
    def __init__(self, *args, **kwargs):
        pass

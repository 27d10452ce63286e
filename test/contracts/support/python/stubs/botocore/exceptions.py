"""The two botocore exceptions the queue agent imports (main.py, modules/sns_action.py, sqs_action.py)."""


class ClientError(Exception):
    pass


class EndpointConnectionError(Exception):
    pass

"""The SMS channel: a signed webhook in, an HTTP gateway out, delivery status (``service.py``)."""

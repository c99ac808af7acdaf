"""The web chat channel: a customer chat page and WebSocket, an agents' WebSocket (``service.py``)."""

"""Unified messaging: e-mail, web chat and SMS feeding the communication server's one queue.

Each channel is a service of its own, registered by a built-in plugin, so an
application can disable one (``[services.sms] enabled = false``) or swap it for
another implementation:

- ``email/``: an SMTP server (aiosmtpd) receiving mail, MIME parsing and
  threading into conversations (cases), a persistent outbox sent through an
  SMTP relay, optional IMAP polling;
- ``chat/``: a WebSocket endpoint and a small customer chat page (Starlette,
  served by uvicorn), with the agents' side on a WebSocket of its own;
- ``sms/``: an HMAC-signed HTTP webhook in, an HTTP gateway out, with
  delivery status;
- ``history.py``: the one contact history every message, in or out, on any
  channel, is recorded in (the ``history`` service);
- ``base.py``: what the channels share (finding the customer, recording history);
- ``flood.py``, ``retry.py``, ``signing.py``, ``web.py``: flood limits, outboxes
  sent with backoff, HMAC-signed webhooks, uvicorn on a thread;
- ``contract.py``: the compliance suite a channel implementation runs against itself;
- ``commands.py``: ``caruso outbox``.

``docs/channels.md`` describes configuring each one and writing another.
"""

"""The e-mail channel: SMTP in (aiosmtpd), threading into cases, a persistent outbox out (smtplib).

``service.py`` is the ``email`` service; ``parse.py`` reads MIME, ``store.py``
keeps messages, attachments and the outbox, ``conversation.py`` finds the case
a message belongs to, ``smtp.py`` is the SMTP server, ``relay.py`` the client of
the outgoing relay, ``imap.py`` polls a mailbox, ``sanitize.py`` makes HTML safe
to show. See ``docs/channels.md``.
"""

"""The client side: handing outgoing mail to the configured SMTP relay with smtplib.

One connection per round of due messages (``RelaySettings.batch`` at most),
with STARTTLS or TLS from the start and a login when configured. Errors are
sorted into the two kinds the outbox needs (``DeliveryFailed.permanent``): the
relay said no for good (a 5xx answer: this message will never go, mark it
failed), or it could not be reached or said "later" (4xx, a refused
connection, a timeout: try again with backoff).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from caruso.errors import DeliveryFailed
from caruso.services.channels.email.settings import RelaySettings

__all__ = ["RelayClient"]


class RelayClient:
    """Sends raw messages through ``settings``' relay."""

    def __init__(self, settings: RelaySettings, *, local_hostname: str | None = None):
        self.settings = settings
        self.local_hostname = local_hostname

    def _tls(self) -> ssl.SSLContext:
        """Certificates checked, host name checked: a relay that cannot prove who it is gets no mail."""
        ca_file = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @contextmanager
    def connection(self) -> Iterator[smtplib.SMTP]:
        """An open, logged-in connection; ``DeliveryFailed`` when there is none to be had."""
        settings = self.settings
        if not settings.host:
            raise DeliveryFailed("no relay is configured ([services.email.settings.relay] host)")
        try:
            if settings.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                        local_hostname=self.local_hostname,
                                                        context=self._tls())
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout,
                                      local_hostname=self.local_hostname)
                if settings.security == "starttls":
                    client.starttls(context=self._tls())
            if settings.username:
                client.login(settings.username, settings.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"the relay {self.where} refused the login of {settings.username!r}: "
                                 f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"cannot reach the relay {self.where}: {exc}") from exc
        try:
            yield client
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def send(self, client: smtplib.SMTP, sender: str, recipients: Sequence[str], raw: bytes) -> str | None:
        """Send one message over ``client``; ``DeliveryFailed`` (permanent or not) when refused.

        Returns None, or the refusals when the relay took the message for some recipients only
        (it went out: those recipients are told in ``last_error``, not retried).
        """
        try:
            refused = client.sendmail(sender, list(recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryFailed(f"the relay {self.where} refused every recipient: {_refusals(exc.recipients)}",
                                 permanent=all(code >= 500 for code in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"the relay {self.where} refused the message: {exc.smtp_code} "
                                 f"{_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"lost the relay {self.where} while sending: {exc}") from exc
        return f"the relay refused {_refusals(refused)}" if refused else None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusals(refused: dict) -> str:
    return "; ".join(f"{address}: {code} {_text(message)}" for address, (code, message) in refused.items())

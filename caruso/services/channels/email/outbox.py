"""The outbox: outgoing mail is written to ``caruso_mail_outbox`` first and sent from there.

``EmailChannel.send_mail`` only queues (one transaction with the message's row
in ``caruso_mail``), so a reply is never lost because the relay is down: the
``OutboxWorker`` thread sends what is due over one relay connection, and on
failure leaves it queued with the next attempt ``RetryPolicy.delay`` later;
after ``max_attempts`` - or at once when the relay said no for good (5xx) - it
is ``failed``, kept, shown in ``outbox()`` and in the service's health, and
``retry(id)`` queues it again. One process sends; two Caruso processes on one
database would each send a message once per process (run one e-mail channel).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from caruso.errors import DeliveryFailed, StorageError
from caruso.services.channels.email.relay import RelayClient
from caruso.services.channels.email.store import MailStore
from caruso.services.channels.retry import RetryPolicy

__all__ = ["Outbox"]

log = logging.getLogger("caruso.channels.email.outbox")


class Outbox:
    """Sends due outbox rows through a relay (``send_due`` is the worker's round)."""

    def __init__(self, store: MailStore, relay: RelayClient, policy: RetryPolicy, now: Callable[[], float],
                 *, on_settled: Callable[[dict[str, Any], str], None] | None = None):
        self.store = store
        self.relay = relay
        self.policy = policy
        self._now = now
        self.on_settled = on_settled
        self.last_error: str | None = None
        self._down_until = 0.0

    def send_due(self) -> float | None:
        """Send every due message; seconds until the next one is due (None: nothing queued).

        After the relay could not be reached, nothing is tried before the backoff's first delay
        has passed, however much is queued meanwhile: a relay that is down is not hammered.
        """
        if self._now() < self._down_until:
            return self._down_until - self._now()
        while True:
            now = self._now()
            rows = self.store.due(now, self.relay.settings.batch)
            if not rows:
                break
            try:
                with self.relay.connection() as client:
                    for row in rows:
                        if not self._send_one(client, row):
                            break
            except DeliveryFailed as exc:  # no connection: every row of this round waits
                self.last_error = str(exc)
                self._down_until = self._now() + self.policy.first
                log.warning("e-mail outbox: %s; %d message(s) wait", exc, len(rows))
                for row in rows:
                    self._failed(row, exc)
                break
        following = self.store.next_due()
        return None if following is None else max(0.0, following - self._now())

    def _send_one(self, client: Any, row: dict[str, Any]) -> bool:
        """Send one row over an open connection; False when the connection is gone."""
        raw = row["raw"].encode("utf-8") if isinstance(row["raw"], str) else row["raw"]
        try:
            partial = self.relay.send(client, row["sender"], row["recipients"], raw)
        except DeliveryFailed as exc:
            self._failed(row, exc)
            return exc.permanent  # a lost connection ends the round; a refused message does not
        self.store.settle(row["id"], row["mail"], state="sent", attempts=row["attempts"] + 1,
                          sent_at=self._now(), last_error=partial)
        self.last_error = None
        self._notify(row, "sent")
        return True

    def _failed(self, row: dict[str, Any], exc: DeliveryFailed) -> None:
        attempts = row["attempts"] + 1
        final = exc.permanent or attempts >= self.policy.max_attempts
        try:
            self.store.settle(row["id"], row["mail"], state="failed" if final else "queued", attempts=attempts,
                              next_at=self._now() + self.policy.delay(attempts), last_error=str(exc))
        except StorageError:
            log.exception("e-mail outbox: could not record the failed attempt of %s", row["message_id"])
            return
        if final:
            log.error("e-mail outbox: %s failed after %d attempt(s): %s", row["message_id"], attempts, exc)
            self._notify(row, "failed")

    def _notify(self, row: dict[str, Any], state: str) -> None:
        if self.on_settled is not None:
            try:
                self.on_settled(row, state)
            except Exception:
                log.exception("e-mail outbox: a listener failed")

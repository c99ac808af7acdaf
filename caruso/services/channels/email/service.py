"""The ``email`` service: mail in (SMTP, IMAP) becomes interactions; mail out goes through the outbox.

Receiving (``receive``, called by the SMTP server and the IMAP poller):

1. refuse what breaks a limit before keeping anything (size, attachments,
   flood: ``MessageRefused`` with the SMTP code);
2. recognise a second delivery of the same message (same Message-ID, same
   bytes: the same result, nothing new) and replace a missing, malformed or
   forged Message-ID (reused by other content, or claiming to be one of ours)
   by one made from the message's digest, noting why;
3. keep the raw bytes and the attachments as files, then read it; a message
   whose body cannot be read is **parked** (``parked()``, ``release_parked(id)``);
4. find the customer (the communication server's ``identify`` settings; an
   unknown sender becomes a new contact when ``new_contact`` says so) and the
   case it belongs to (``conversation.py``);
5. join the case's interaction while it is open, else offer a new ``email``
   interaction (``external`` = Message-ID, ``parent`` = the case's last one);
6. record it in the history and acknowledge a new case with its reference.

A row is written with status ``received`` before the interaction is offered
and changed after; a crash in between is finished at the next start, and a
repeated delivery finishes it too.

Sending (``send_mail``, ``reply``, ``send`` for the scripts' ``email``
action) writes the message and its outbox row, records it in the history and
wakes the outbox thread (``outbox.py``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

import attrs

from caruso.errors import MessageRefused, ServiceStateError
from caruso.services.base import DEGRADED, DOWN, Health
from caruso.services.channels.base import ChannelService
from caruso.services.channels.email.conversation import CaseReferences, find_case
from caruso.services.channels.email.outbox import Outbox
from caruso.services.channels.email.parse import ParsedMail, parse_mail
from caruso.services.channels.email.relay import RelayClient
from caruso.services.channels.email.sanitize import sanitize_html
from caruso.services.channels.email.settings import EmailSettings
from caruso.services.channels.email.store import MailStore
from caruso.services.channels.flood import FloodGuard
from caruso.services.channels.history import customer_text
from caruso.services.channels.retry import OutboxWorker

__all__ = ["EmailChannel", "MailView", "Received"]

log = logging.getLogger("caruso.channels.email")


@attrs.frozen
class Received:
    """What became of a received message.

    Attributes:
        mail: its row in ``caruso_mail`` (None for a copy arriving while the first is being taken).
        message_id: its Message-ID (the one Caruso made when it had none or a forged one).
        case: its case reference (None while parked).
        interaction: the interaction it opened or joined (None while parked).
        status: ``offered`` (a new interaction), ``joined`` (an open one), ``parked``.
        duplicate: it had been delivered before; nothing new was done.
        problems: what was wrong with it.
    """

    mail: int | None
    message_id: str
    case: str | None
    interaction: str | None
    status: str
    duplicate: bool = False
    problems: tuple[str, ...] = ()


@attrs.frozen
class MailView:
    """One message for a screen: ``safe_html`` is the only HTML to render."""

    id: int
    message_id: str
    direction: str
    status: str
    case: str | None
    interaction: str | None
    address: str | None
    subject: str | None
    text: str
    html: str | None
    safe_html: str | None
    attachments: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]
    raw: Path | None


class EmailChannel(ChannelService):
    """The default ``email`` service (see the module docstring and docs/channels.md)."""

    channel = "email"
    Settings = EmailSettings

    def __init__(self) -> None:
        self.store: MailStore | None = None
        self.receiver: Any = None
        self.worker: OutboxWorker | None = None
        self.outbox_sender: Outbox | None = None
        self.poller: Any = None
        self._receiving = threading.Lock()
        self._in_progress: set[str] = set()

    # --- lifecycle --------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        settings = self.config = self.settings_of(EmailSettings)
        self.addresses = {address.strip().lower() for address in settings.addresses}
        self.routes = {address.strip().lower(): queue for address, queue in settings.routes.items()}
        self._check(settings)
        self.from_address = settings.from_address or (settings.addresses[0] if settings.addresses else None)
        self.domain = (settings.domain or (self.from_address.split("@", 1)[1] if self.from_address else "caruso.invalid")).lower()
        self.cases = CaseReferences(settings.case_prefix)
        if not (settings.addresses or settings.relay.host or settings.imap.host):
            log.info("e-mail channel: no addresses, relay or IMAP mailbox configured; it stays idle")
            return  # no folder, no tables, no threads in an application that does not use e-mail
        self.history.open()
        folder = settings.folder if settings.folder.is_absolute() else self.context.root / settings.folder
        self.store = MailStore(self.manager.get("storage"), folder)
        self.store.open()
        self._flood = FloodGuard(settings.flood, self.clock.monotonic)
        self.outbox_sender = Outbox(self.store, RelayClient(settings.relay, local_hostname=self.domain),
                                    settings.retry, self._now)
        self.worker = OutboxWorker("caruso-email-outbox", self.outbox_sender.send_due)
        self.worker.start()
        self._recover()
        if settings.smtp.port is not None:
            from caruso.services.channels.email.smtp import SmtpReceiver

            self.receiver = SmtpReceiver(self, host=settings.smtp.host, port=settings.smtp.port,
                                         max_message_size=settings.smtp.max_message_size, hostname=self.domain,
                                         workers=settings.smtp.workers)
            self.receiver.start()
        if settings.imap.host:
            from caruso.services.channels.email.imap import ImapPoller

            self.poller = ImapPoller(settings.imap, self)
            self.poller.start()

    def _running(self) -> None:
        if self.store is None:
            raise ServiceStateError(
                "the e-mail channel is idle: configure [services.email.settings] addresses (to receive)"
                " and relay (to send); see docs/channels.md")

    def _check(self, settings: EmailSettings) -> None:
        from caruso.services.channels.checks import check_email, raise_problems

        queues = {status.name for status in self.server.queue_status()}
        raise_problems(self.context.name, check_email(settings, queues))

    def on_stop(self) -> None:
        for part in (self.poller, self.receiver, self.worker):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("e-mail channel: stopping %r failed", part)
        self.poller = self.receiver = self.worker = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def health(self) -> Health:
        if self.store is None:
            if getattr(self, "config", None) is not None:
                return Health(detail="idle: no addresses, relay or IMAP mailbox are configured")
            return Health(DOWN, "not started")
        counts = self.store.outbox_counts()
        parked = self.store.count_status("parked")
        waiting = [row for row in self.store.outbox_rows(("queued",)) if row["attempts"] > 0]
        detail = f"{counts.get('sent', 0)} sent, {counts.get('queued', 0)} queued"
        if parked:
            detail += f", {parked} parked for an operator"
        if waiting or counts.get("failed"):
            error = self.outbox_sender.last_error or (waiting[0]["last_error"] if waiting else "")
            return Health(DEGRADED, f"{detail}; {len(waiting)} waiting for the relay, "
                                    f"{counts.get('failed', 0)} failed: {error}")
        return Health(detail=detail)

    @property
    def smtp_port(self) -> int | None:
        """The port the SMTP server listens on (None: it does not)."""
        return self.receiver.port if self.receiver is not None else None

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # --- receiving --------------------------------------------------------------------

    def accepts(self, address: str) -> bool:
        """Whether mail to ``address`` is taken."""
        return address.strip().strip("<>").lower() in self.addresses

    def receive(self, raw: bytes, *, envelope_from: str = "", recipients: Sequence[str] = ()) -> Received:
        """Take one received message (see the module docstring).

        Raises:
            MessageRefused: a limit refused it (nothing was kept).
            CarusoError: the database is unavailable (a ``StorageError``, ``EventLogUnavailable``):
                the sender should try again; what was kept is finished then or at the next start.
        """
        settings = self.config
        self._running()
        if len(raw) > settings.smtp.max_message_size:
            raise MessageRefused(f"message of {len(raw)} bytes is larger than max_message_size "
                                 f"({settings.smtp.max_message_size})", code=552, limit="smtp.max_message_size")
        parsed = parse_mail(raw)
        sender = parsed.sender or (envelope_from.strip("<>").lower() if "@" in envelope_from else None)
        flood_key = envelope_from.strip("<>").lower() or sender or "<>"
        if not self._flood.allow(flood_key):
            raise MessageRefused(f"too many messages from {flood_key!r}: {self._flood.describe()}",
                                 code=451, limit="flood")
        self._check_attachments(parsed)
        digest = hashlib.sha256(raw).hexdigest()
        with self._receiving:  # "seen before?" and taking the Message-ID are one step
            claimed = self._claim(parsed, digest)
            if isinstance(claimed, Received):
                return claimed
            message_id, problems = claimed
            self._in_progress.add(message_id)
        try:
            return self._keep(raw, parsed, digest, message_id, problems, sender, recipients)
        finally:
            with self._receiving:
                self._in_progress.discard(message_id)

    def _claim(self, parsed: ParsedMail, digest: str) -> Received | tuple[str, list[str]]:
        """The Message-ID this message is kept under (and its problems), or the result of the
        delivery it repeats."""
        problems = list(parsed.problems)
        message_id = parsed.message_id
        if message_id is not None:
            if message_id in self._in_progress:  # the same message, arriving twice at once
                return Received(None, message_id, None, None, "received", duplicate=True)
            known = self.store.by_message_id(message_id)
            if known is not None and known["direction"] == "inbound" and known["digest"] == digest:
                return self._again(known)
            if known is not None:
                problems.append(f"Message-ID {message_id} was already used by another message; replaced")
                message_id = None
            elif message_id.lower().endswith(f"@{self.domain}>"):
                problems.append(f"Message-ID {message_id} claims to be one of ours, but was never sent; replaced")
                message_id = None
        if message_id is None:
            message_id = f"<{digest[:40]}@received.{self.domain}>"
            if message_id in self._in_progress:
                return Received(None, message_id, None, None, "received", duplicate=True)
            known = self.store.by_message_id(message_id)
            if known is not None:
                return self._again(known)
        return message_id, problems

    def _keep(self, raw: bytes, parsed: ParsedMail, digest: str, message_id: str, problems: list[str],
              sender: str | None, recipients: Sequence[str]) -> Received:
        """Store the files and the row, then route it (or park it)."""
        settings = self.config
        recipient = next((r.lower() for r in recipients if self.accepts(r)), None)
        raw_path = self.store.write_raw(raw, self.clock.now().strftime("%Y-%m-%d"))
        attachments = self.store.write_attachments(raw_path, parsed.attachments)
        row = dict(message_id=message_id, direction="inbound", address=sender, recipients=list(recipients),
                   subject=parsed.subject[:255], at=self._now(), digest=digest, raw=raw_path,
                   thread=list(parsed.thread_ids), text=parsed.text, html=parsed.html, attachments=attachments,
                   problems=problems)
        if parsed.park:
            mail_id = self.store.add(status="parked", **row)
            log.warning("e-mail channel: parked %s from %r: %s", message_id, sender, "; ".join(problems))
            return Received(mail_id, message_id, None, None, "parked", problems=tuple(problems))
        customer, priority, _created = self.customer_for(settings.new_contact, sender, parsed.name)
        match = find_case(parsed, customer, self.store, self.cases)
        if match.refused:
            problems.append(match.refused)
        stored = dict(row, status="received", case_ref=match.case or self.cases.new(),
                      customer=customer_text(customer))
        stored["id"] = self.store.add(**stored)
        return self._route(stored, customer=customer, priority=priority,
                           queue=self.routes.get(recipient or "", settings.queue),
                           acknowledge=match.case is None and not parsed.automatic, new_case=match.case is None,
                           name=parsed.name, reply_to=parsed.reply_to)

    def _check_attachments(self, parsed: ParsedMail) -> None:
        limits = self.config.smtp
        if len(parsed.attachments) > limits.max_attachments:
            raise MessageRefused(f"{len(parsed.attachments)} attachments; at most max_attachments "
                                 f"({limits.max_attachments})", code=552, limit="smtp.max_attachments")
        for attachment in parsed.attachments:
            if attachment.size > limits.max_attachment_size:
                raise MessageRefused(f"attachment {attachment.filename!r} of {attachment.size} bytes is larger "
                                     f"than max_attachment_size ({limits.max_attachment_size})",
                                     code=552, limit="smtp.max_attachment_size")

    def _again(self, row: dict[str, Any]) -> Received:
        """A message delivered before: its result; one left half-done is finished now."""
        if row["status"] == "received":
            customer, priority = self.identify(row["address"])
            return self._route(row, customer=customer if customer is not None else row["customer"],
                               priority=priority, queue=self._queue_of(row), acknowledge=False)
        return Received(row["id"], row["message_id"], row["case_ref"], row["interaction"], row["status"],
                        duplicate=True, problems=tuple(row["problems"]))

    def _queue_of(self, row: dict[str, Any]) -> str | None:
        recipient = next((r.lower() for r in row["recipients"] if self.accepts(r)), "")
        return self.routes.get(recipient, self.config.queue)

    def _route(self, row: dict[str, Any], *, customer: Any, priority: int, queue: str | None,
               acknowledge: bool, new_case: bool = False, name: str | None = None,
               reply_to: str | None = None) -> Received:
        """Join the case's open interaction or offer a new one; record; acknowledge."""
        case = row["case_ref"]
        previous = None
        if not new_case:
            earlier = [r["interaction"] for r in self.store.case_rows(case) if r["interaction"] and r["id"] != row["id"]]
            previous = earlier[-1] if earlier else None
        open_view = self.open_interaction(previous)
        if open_view is not None:
            interaction, status, agent = open_view.id, "joined", open_view.agent
        else:
            view = self.server.offer(
                "email", queue=queue, address=row["address"], customer=customer, subject=row["subject"],
                priority=priority, external=row["message_id"], parent=previous,
                data={"case": case, "mail": row["id"], "attachments": len(row["attachments"]),
                      "problems": list(row["problems"])})
            interaction, status, agent = view.id, "offered", None
        self.record("inbound", customer=customer, address=row["address"], agent=agent, interaction=interaction,
                    subject=row["subject"], summary=row["text"], body=f"mail:{row['id']}",
                    attachments=[a["path"] for a in row["attachments"]],
                    data={"case": case, "message_id": row["message_id"]})
        self.store.update(row["id"], status=status, interaction=interaction)
        if acknowledge and self.config.acknowledge.enabled:
            self._acknowledge(row, case, customer, interaction, name, reply_to)
        return Received(row["id"], row["message_id"], case, interaction, status, problems=tuple(row["problems"]))

    def _acknowledge(self, row: dict[str, Any], case: str, customer: Any, interaction: str,
                     name: str | None, reply_to: str | None) -> None:
        to = reply_to or row["address"]
        if not to or to in self.addresses:
            return  # never answer ourselves: a mail loop
        ack = self.config.acknowledge
        values = {"case": case, "subject": row["subject"] or "", "name": name or to}
        try:
            self._queue_mail([to], ack.subject.format(**values), ack.text.format(**values), customer=customer,
                             interaction=interaction, case=case,
                             references=[*row["thread"][::-1][-19:], row["message_id"]], automatic=True)
        except Exception:  # the message is in; a missing acknowledgement is not worth losing it over
            log.exception("e-mail channel: could not queue the acknowledgement of %s", row["message_id"])

    def _recover(self) -> None:
        """Finish what a crash interrupted: received, not yet routed."""
        for row in self.store.with_status("received"):
            try:
                self._again(row)
            except Exception:
                log.exception("e-mail channel: could not finish %s; it is tried again at the next start",
                              row["message_id"])

    # --- parked mail ------------------------------------------------------------------

    def parked(self) -> list[MailView]:
        """Messages that could not be read, waiting for an operator."""
        self._running()
        return [self._view(row) for row in self.store.with_status("parked")]

    def release_parked(self, mail_id: int, *, queue: str | None = None) -> Received:
        """Put a parked message in the queue as it is (an agent reads the original)."""
        self._running()
        row = self.store.get(mail_id)
        if row is None or row["status"] != "parked":
            raise MessageRefused(f"mail {mail_id} is not parked", code=554, limit="release")
        customer, priority = self.identify(row["address"])
        case = self.cases.new()
        self.store.update(mail_id, status="received", case_ref=case, customer=customer_text(customer))
        return self._route(self.store.get(mail_id), customer=customer, priority=priority,
                           queue=queue or self._queue_of(row), acknowledge=False)

    # --- sending ----------------------------------------------------------------------

    def send_mail(self, to: str | Iterable[str], subject: str, text: str, *, html: str | None = None,
                  customer: Any = None, interaction: str | None = None, in_reply_to: str | None = None,
                  agent: str | None = None, automatic: bool = False,
                  attachments: Sequence[tuple[str, str, bytes]] = ()) -> str:
        """Queue a message for the relay and record it in the history; its Message-ID.

        Args:
            to: the recipients.
            subject, text: the subject and the plain text.
            html: an HTML alternative.
            customer: whom it is about (for the history).
            interaction: the interaction it belongs to (its case reference goes into the subject).
            in_reply_to: the Message-ID it answers (threading headers, case, customer, interaction).
            agent: who wrote it.
            automatic: an automatic message (``Auto-Submitted: auto-replied``).
            attachments: ``(filename, content type, bytes)`` each (a report's PDF, a chart).

        Raises:
            ValueError: a recipient is not an e-mail address, or there are none.
        """
        self._running()
        case, references = None, []
        if in_reply_to:
            answered = self.store.by_message_id(in_reply_to)
            if answered is not None:
                case = answered["case_ref"]
                references = [*answered["thread"][::-1][-19:], in_reply_to]
                interaction = interaction or answered["interaction"]
                customer = customer if customer is not None else answered["customer"]
            else:
                references = [in_reply_to]
        if case is None and interaction:
            rows = self.store.for_interaction(interaction)
            case = rows[-1]["case_ref"] if rows else None
        return self._queue_mail(to, subject, text, html=html, customer=customer, interaction=interaction,
                                case=case, references=references, agent=agent, automatic=automatic,
                                attachments=attachments)

    def _queue_mail(self, to: str | Iterable[str], subject: str, text: str, *, html: str | None = None,
                    customer: Any = None, interaction: str | None = None, case: str | None = None,
                    references: Sequence[str] = (), agent: str | None = None, automatic: bool = False,
                    attachments: Sequence[tuple[str, str, bytes]] = ()) -> str:
        """Build the message and queue it (what ``send_mail`` does once it knows case and thread)."""
        recipients = [_address(a) for a in ([to] if isinstance(to, str) else list(to))]
        if not recipients:
            raise ValueError("send_mail needs at least one recipient")
        if not self.from_address:
            raise ValueError("no sender: set [services.email.settings] from_address or addresses")
        references = list(references)
        if case:
            subject = self.cases.subject(case, subject)
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = formataddr((self.config.from_name or "", self.from_address))
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Date"] = format_datetime(self.clock.now())
        message_id = make_msgid(domain=self.domain)
        message["Message-ID"] = message_id
        if references:
            message["In-Reply-To"] = references[-1]
            message["References"] = " ".join(references)
        if automatic:
            message["Auto-Submitted"] = "auto-replied"
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        described = []
        for filename, content_type, content in attachments:
            maintype, _, subtype = content_type.partition("/")
            if not subtype:
                raise ValueError(f"attachment {filename!r}: {content_type!r} is not a content type like 'application/pdf'")
            message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
            described.append({"name": filename, "type": content_type, "size": len(content),
                              "sha256": hashlib.sha256(content).hexdigest()})
        raw = message.as_bytes(policy=policy.SMTP)
        now = self._now()
        mail_id, _ = self.store.add_outgoing(
            dict(message_id=message_id, direction="outbound", status="queued", case_ref=case, interaction=interaction,
                 customer=customer_text(customer), address=recipients[0], recipients=recipients,
                 subject=subject[:255], at=now, digest=hashlib.sha256(raw).hexdigest(),
                 thread=references, text=text, html=html, attachments=described),
            dict(message_id=message_id, sender=self.from_address, recipients=recipients, subject=subject[:255],
                 raw=raw.decode("utf-8"), state="queued", attempts=0, next_at=now, created=now))
        self.record("outbound", customer=customer, address=recipients[0], agent=agent, interaction=interaction,
                    subject=subject, summary=text, body=f"mail:{mail_id}",
                    data={"case": case, "message_id": message_id, "automatic": automatic} if case else
                    {"message_id": message_id, "automatic": automatic})
        if self.worker is not None:
            self.worker.wake()
        return message_id

    def reply(self, interaction: str, text: str, *, agent: str | None = None, html: str | None = None) -> str:
        """Answer the last message the customer sent on ``interaction``; the reply's Message-ID."""
        self._running()
        inbound = [row for row in self.store.for_interaction(interaction) if row["direction"] == "inbound"]
        if not inbound:
            raise ValueError(f"interaction {interaction} has no received e-mail to reply to")
        last = inbound[-1]
        subject = last["subject"] or ""
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}".strip()
        return self.send_mail([last["address"]], subject, text, html=html, customer=last["customer"],
                              interaction=interaction, in_reply_to=last["message_id"], agent=agent)

    # --- for the supervisor and the desktop --------------------------------------------

    def outbox(self, *, failed: bool = True) -> list[dict[str, Any]]:
        """Outgoing messages not yet sent: queued (with attempts and the last error) and failed."""
        self._running()
        return self.store.outbox_rows(("queued", "failed") if failed else ("queued",))

    def retry(self, outbox_id: int) -> None:
        """Queue a failed message again, due now, with a fresh count of attempts."""
        self._running()
        row = self.store.outbox_row(outbox_id)
        if row is None:
            raise ValueError(f"no outbox message {outbox_id}")
        self.store.settle(outbox_id, row["mail"], state="queued", attempts=0, next_at=self._now())
        self.worker.wake()

    def flush(self) -> None:
        """Send what is due now, on the caller's thread (the worker does it on its own)."""
        self.outbox_sender.send_due()

    def message(self, mail_id: int) -> MailView:
        """One stored message, with its HTML sanitised for display."""
        self._running()
        row = self.store.get(mail_id)
        if row is None:
            raise ValueError(f"no mail {mail_id}")
        return self._view(row)

    def messages(self, interaction: str) -> list[MailView]:
        """The messages of an interaction, in and out, in order."""
        self._running()
        return [self._view(row) for row in self.store.for_interaction(interaction)]

    def _view(self, row: dict[str, Any]) -> MailView:
        return MailView(
            row["id"], row["message_id"], row["direction"], row["status"], row["case_ref"], row["interaction"],
            row["address"], row["subject"], row["text"] or "", row["html"],
            sanitize_html(row["html"]) if row["html"] else None, tuple(row["attachments"]),
            tuple(row["problems"]), self.store.path(row["raw"]) if row["raw"] else None)


def _address(value: str) -> str:
    text = str(value).strip()
    try:
        parsed = Address(addr_spec=text)
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an e-mail address: {exc}") from None
    if not parsed.domain or not parsed.username:
        raise ValueError(f"{value!r} is not an e-mail address")
    return parsed.addr_spec

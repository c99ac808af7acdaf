"""Reading a received message: headers, text, HTML and attachments, whatever state it is in.

Parsing uses the standard library's ``email`` package with ``policy.default``.
Mail from the internet is often broken - a multipart without its boundary, a
charset nobody knows, an address header that does not parse, no Message-ID -
and a customer's message must never be lost because of it. So ``parse_mail``
never raises: what it could not read is listed in ``problems`` (the defects
the parser found, in words), and a message whose body cannot be trusted at all
is marked ``park``: it is kept byte for byte and shown to an operator instead
of being routed half-read.
"""

from __future__ import annotations

import email.utils
import hashlib
import html as html_module
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import attrs

__all__ = ["Attachment", "ParsedMail", "message_ids", "parse_mail"]

_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_PARK_DEFECTS = ("NoBoundaryInMultipartDefect", "StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect",
                 "CloseBoundaryNotFoundDefect")


@attrs.frozen
class Attachment:
    """One attachment as received: its name, type and bytes (a ``message/rfc822`` part whole)."""

    filename: str
    content_type: str
    content: bytes = attrs.field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@attrs.frozen
class ParsedMail:
    """What Caruso read from one message.

    Attributes:
        message_id: the Message-ID as written (``<x@y>``), or None when missing or malformed.
        in_reply_to, references: the Message-IDs it answers, nearest last.
        sender, name: the From address (lower case) and display name; None when unreadable.
        reply_to: where answers go (Reply-To, else From).
        subject: the subject ('' when none).
        text: the plain text (from the HTML when the message has only HTML).
        html: the HTML part exactly as received (show it only through ``sanitize_html``).
        attachments: every attachment.
        automatic: an auto-reply, a bounce or list mail: never acknowledged.
        problems: what was wrong with it, in words.
        park: the body could not be read reliably: keep it for an operator.
    """

    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    sender: str | None = None
    name: str | None = None
    reply_to: str | None = None
    subject: str = ""
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    automatic: bool = False
    problems: tuple[str, ...] = ()
    park: bool = False

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this message refers to, nearest first (In-Reply-To, then References backwards)."""
        seen: list[str] = []
        for found in (*reversed(self.in_reply_to), *reversed(self.references)):
            if found not in seen:
                seen.append(found)
        return tuple(seen)


def message_ids(value: Any) -> tuple[str, ...]:
    """Every ``<local@domain>`` in a header value, in order."""
    return tuple(_MESSAGE_ID.findall(str(value))) if value else ()


def parse_mail(raw: bytes) -> ParsedMail:
    """Read ``raw`` (the bytes an SMTP client sent); never raises (see the module docstring)."""
    problems: list[str] = []
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser itself gave up: keep the bytes for a person
        return ParsedMail(None, problems=(f"the message cannot be parsed: {exc}",), park=True)
    park = False
    for defect in message.defects:
        problems.append(_defect(defect))
        park = park or type(defect).__name__ in _PARK_DEFECTS

    message_id = _header(message, "Message-ID", problems)
    found = message_ids(message_id)
    if not message_id:
        problems.append("no Message-ID")
        message_id = None
    elif len(found) != 1 or len(found[0]) > 250:
        problems.append(f"malformed Message-ID {str(message_id)[:80]!r}")
        message_id = None
    else:
        message_id = found[0]

    name, sender = _address(message, "From", problems)
    _reply_name, reply_to = _address(message, "Reply-To", problems) if message.get("Reply-To") else (None, None)
    subject = " ".join(str(_header(message, "Subject", problems) or "").split())

    text, html, attachments = "", None, []
    try:
        text, html = _bodies(message, problems)
        attachments = _attachments(message, problems)
    except Exception as exc:
        problems.append(f"the body cannot be read: {type(exc).__name__}: {exc}")
        park = True
    if sender is None:
        park = True
    auto = str(_header(message, "Auto-Submitted", problems) or "no").strip().lower()
    precedence = str(_header(message, "Precedence", problems) or "").strip().lower()
    automatic = (auto != "no" or precedence in ("bulk", "list", "junk") or bool(message.get("List-Id"))
                 or (sender or "").startswith(("mailer-daemon@", "postmaster@")))
    return ParsedMail(
        message_id, message_ids(_header(message, "In-Reply-To", problems)),
        message_ids(_header(message, "References", problems)), sender, name, reply_to or sender, subject,
        text, html, tuple(attachments), automatic, tuple(problems), park,
    )


def _header(message: EmailMessage, name: str, problems: list[str]) -> Any:
    try:
        return message.get(name)
    except Exception as exc:
        problems.append(f"unreadable {name} header: {exc}")
        return None


def _address(message: EmailMessage, name: str, problems: list[str]) -> tuple[str | None, str | None]:
    value = _header(message, name, problems)
    if value is None:
        return None, None
    try:
        addresses = getattr(value, "addresses", None)
        if addresses:
            first = addresses[0]
            address = first.addr_spec
            display = first.display_name or None
        else:
            display, address = email.utils.parseaddr(str(value))
    except Exception as exc:
        problems.append(f"unreadable {name} address: {exc}")
        display, address = email.utils.parseaddr(str(value))
    if not address or "@" not in address:
        problems.append(f"no address in {name}: {str(value)[:80]!r}")
        return None, None
    return display or None, address.strip().lower()


def _content(part: EmailMessage, problems: list[str]) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError) as exc:  # an unknown or lying charset
        problems.append(f"{part.get_content_type()} part: {exc}; read as UTF-8 with replacements")
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _bodies(message: EmailMessage, problems: list[str]) -> tuple[str, str | None]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    html = _content(rich, problems) if rich is not None else None
    if plain is not None:
        text = _content(plain, problems)
    elif html is not None:
        text = html_to_text(html)
    elif not message.is_multipart() and message.get_content_maintype() == "text":
        text = _content(message, problems)
    else:
        text = ""
    return text.replace("\r\n", "\n").strip(), html


def html_to_text(html: str) -> str:
    """The words of an HTML body, without any markup (nh3 removes every tag)."""
    import nh3

    cleaned = nh3.clean(re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", html), tags=set())
    return "\n".join(" ".join(line.split()) for line in html_module.unescape(cleaned).splitlines()).strip()


def _attachments(message: EmailMessage, problems: list[str]) -> list[Attachment]:
    found = []
    for part in message.iter_attachments():
        content_type = part.get_content_type()
        filename = part.get_filename() or f"attachment-{len(found) + 1}"
        if part.get_content_maintype() == "message" or part.is_multipart():
            content = part.as_bytes() if not part.get_content_maintype() == "message" else _inner(part)
        else:
            content = part.get_payload(decode=True) or b""
        found.append(Attachment(filename, content_type, content))
    return found


def _inner(part: EmailMessage) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload[0].as_bytes()
    return part.as_bytes()


def _defect(defect: Exception) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(defect).__name__.removesuffix("Defect")).lower()
    detail = str(defect)
    return f"{words}: {detail}" if detail else words

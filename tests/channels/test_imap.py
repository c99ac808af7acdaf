"""Polling a real IMAP mailbox: Dovecot on loopback, messages put in with imaplib's APPEND.

Needs Debian's ``dovecot-imapd`` (``.ci/run`` installs it); skipped without it, failed in CI.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from caruso.services.channels.email.smtp import free_port
from tests.channels.conftest import wait_for
from tests.conftest import services_required

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/mail/%u
}}
mail_location = maildir:{folder}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@pytest.fixture
def mailbox():
    """A Dovecot IMAP server on a free loopback port with one mailbox, support@example.com / secret."""
    if shutil.which("dovecot") is None or os.geteuid() != 0:
        message = "Dovecot (dovecot-imapd) is not installed, or the tests do not run as root"
        if services_required():
            pytest.fail(message + " and CARUSO_REQUIRE_SERVICES is set", pytrace=False)
        pytest.skip(message)
    # Dovecot's own processes run as its users: pytest's tmp_path (under a 0700 folder) is closed to them
    folder = Path(tempfile.mkdtemp(prefix="caruso-dovecot-"))
    for name in ("run", "state", "mail"):
        (folder / name).mkdir(parents=True)
    folder.chmod(0o755)
    owner = pwd.getpwnam("dovecot")
    os.chown(folder / "mail", owner.pw_uid, owner.pw_gid)
    (folder / "users").write_text("support@example.com:{PLAIN}secret\n")
    port = free_port()
    (folder / "dovecot.conf").write_text(CONFIG.format(folder=folder, uid=owner.pw_uid, gid=owner.pw_gid, port=port))
    process = subprocess.Popen(["dovecot", "-F", "-c", str(folder / "dovecot.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def _append(port: int, message: EmailMessage) -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login("support@example.com", "secret")
    client.append("INBOX", None, None, message.as_bytes())
    client.logout()


def _unseen(port: int) -> int:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login("support@example.com", "secret")
    client.select("INBOX")
    _, found = client.uid("SEARCH", None, "UNSEEN")
    client.logout()
    return len((found[0] or b"").split())


def _message(subject: str, attachment: bytes = b"") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "jan@example.nl"
    message["To"] = "support@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@example.nl>"
    message.set_content("Hello.")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="big.bin")
    return message


def test_unseen_mail_in_the_mailbox_becomes_interactions_and_is_marked_seen(channels_app, mailbox):
    """The poller takes every unseen message through the same path as SMTP mail and marks it seen;
    one the channel refuses (an attachment over the limit) stays unseen, nothing is deleted."""
    _append(mailbox, _message("first question"))
    _append(mailbox, _message("too big", attachment=b"x" * 60_000))
    _append(mailbox, _message("second question"))
    app = channels_app(f"""
    [services.email.settings.imap]
    host = "127.0.0.1"
    port = {mailbox}
    ssl = false
    username = "support@example.com"
    password = "secret"
    interval = 0.2
    recipient = "support@example.com"
    """)
    server = app.services.get("communication")
    waiting = wait_for(lambda: len(server.waiting("support")) == 2 and server.waiting("support"))
    assert ["first question", "second question"] == [w.subject for w in waiting]
    assert 1 == wait_for(lambda: _unseen(mailbox) == 1 and 1)
    email = app.services.get("email")
    assert True == wait_for(lambda: email.poller.received == 2)
    email.poller.poll()                   # again: nothing new, the refused one still refused
    assert (2, 1) == (len(server.waiting("support")), _unseen(mailbox))


def test_a_wrong_imap_password_is_reported_and_nothing_is_taken(channels_app, mailbox):
    """A login the server refuses: the poller keeps running with the error, nothing is taken."""
    _append(mailbox, _message("waiting"))
    app = channels_app(f"""
    [services.email.settings.imap]
    host = "127.0.0.1"
    port = {mailbox}
    ssl = false
    username = "support@example.com"
    password = "guess"
    interval = 60
    """)
    poller = app.services.get("email").poller
    assert "AUTHENTICATIONFAILED" in wait_for(lambda: poller.last_error or "")
    assert (0, []) == (poller.received, app.services.get("communication").waiting())

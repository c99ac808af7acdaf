"""``caruso outbox``: what waits to be sent, for the supervisor, straight from the tables.

Reads ``caruso_mail_outbox`` and ``caruso_sms`` through the storage manager
without starting anything (like ``caruso events``), so it works beside a
running application and while the relay is down. ``--retry ID`` queues a
failed e-mail again; the running e-mail channel sends it at its next round.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa

from caruso.errors import CarusoError


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("--retry", "retry_id", type=int, metavar="ID", help="Queue the failed e-mail ID again, due now.")
@click.option("--all", "show_all", is_flag=True, help="Also what was sent (the last 50 of each).")
def outbox(folder: Path, retry_id: int | None, show_all: bool) -> None:
    """Outgoing e-mail and SMS not yet sent: queued (with attempts and the last error) and failed."""
    from caruso.config import load_config
    from caruso.services.channels.email.store import MailStore
    from caruso.services.channels.sms.store import SmsStore
    from caruso.storage import Storage

    storage = Storage(load_config(folder).storage.url)
    try:
        mail, sms = MailStore(storage, Path(".")), SmsStore(storage)
        present = sa.inspect(storage.engine).get_table_names()
        if retry_id is not None:
            if mail.outbox.name not in present or mail.outbox_row(retry_id) is None:
                raise CarusoError(f"no outgoing e-mail {retry_id}; `caruso outbox {folder}` lists them")
            mail.settle(retry_id, mail.outbox_row(retry_id)["mail"], state="queued", attempts=0, next_at=time.time())
            click.echo(f"e-mail {retry_id} is queued again; the running e-mail channel sends it")
            return
        states = ("queued", "failed", "sent") if show_all else ("queued", "failed")
        rows = []
        if mail.outbox.name in present:
            rows += [("e-mail", r["id"], r["state"], r["attempts"], r["next_at"], ", ".join(r["recipients"]),
                      r["subject"] or "", r["last_error"] or "") for r in mail.outbox_rows(states)[-200:]]
        if sms.table.name in present:
            rows += [("sms", r["id"], r["state"], r["attempts"], r["next_at"], r["number"], r["text"][:40],
                      r["last_error"] or "") for r in sms.with_states(states)[-200:]]
    finally:
        storage.close()
    if not rows:
        click.echo("nothing waits to be sent")
        return
    click.echo(f"{'CHANNEL':<8}{'ID':>6}  {'STATE':<8}{'TRIES':>6}  {'NEXT TRY (UTC)':<20}{'TO':<28}{'SUBJECT':<30}ERROR")
    for channel, ident, state, attempts, next_at, to, subject, error in rows:
        when = datetime.fromtimestamp(next_at, UTC).strftime("%Y-%m-%d %H:%M:%S") if next_at and state == "queued" else "-"
        click.echo(f"{channel:<8}{ident:>6}  {state:<8}{attempts:>6}  {when:<20}{to[:27]:<28}{subject[:29]:<30}{error[:120]}")

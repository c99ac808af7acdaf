"""``caruso web``: the front office's users, API tokens and access log, from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from caruso.cli import _load, _print_table, folder_argument

__all__ = ["web"]


@click.group()
def web() -> None:
    """The web front office: its users, their API tokens, the log of logins and denials."""


@contextmanager
def _running_web(folder: Path) -> Iterator[Any]:
    """The ``web`` service of the started application in ``folder`` (it opens no port)."""
    app = _load(folder)
    with app:
        yield app.services.get("web")


@web.command("adduser")
@folder_argument
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role from [services.web.settings.roles]; repeat for more.")
@click.option("--customer", default=None, help="The Customer key a self-service user is.")
@click.option("--agent", default=None, help="The communication server's agent name of an agent user.")
@click.option("--queue", "queues", multiple=True, help="A queue whose customers the user works for (record rules).")
@click.password_option(help="The password (asked twice when not given).")
def add_user(folder: Path, name: str, roles, customer, agent, queues, password: str) -> None:
    """Add a user who logs in to the front office."""
    with _running_web(folder) as service:
        service.users.add(name, password, roles=roles, customer=customer, agent=agent, queues=queues)
    click.echo(f"user {name!r} added with roles {', '.join(roles)}")


@web.command("passwd")
@folder_argument
@click.argument("name")
@click.password_option(help="The new password (asked twice when not given).")
def passwd(folder: Path, name: str, password: str) -> None:
    """Set a user's password."""
    with _running_web(folder) as service:
        service.users.set_password(name, password)
    click.echo(f"password of {name!r} changed")


@web.command("users")
@folder_argument
def list_users(folder: Path) -> None:
    """List the users: name, roles, customer, agent, queues."""
    with _running_web(folder) as service:
        rows = [(u.name, ",".join(u.roles), u.customer or "", u.agent or "", ",".join(u.queues))
                for u in service.users.all()]
    _print_table(("USER", "ROLES", "CUSTOMER", "AGENT", "QUEUES"), rows)


@web.command("token")
@folder_argument
@click.argument("name")
def token(folder: Path, name: str) -> None:
    """Issue a new API token for a user (the previous one stops working); shown once."""
    with _running_web(folder) as service:
        click.echo(service.users.issue_token(name))


@web.command("log")
@folder_argument
@click.option("--limit", default=50, show_default=True, help="How many entries, latest first.")
@click.option("--event", default=None, help="Only this event (login-failed, denied, session-tampered, ...).")
def access_log(folder: Path, limit: int, event: str | None) -> None:
    """The log of logins, failed logins, permission denials and tampered sessions, latest first."""
    with _running_web(folder) as service:
        rows = [(str(r["at"]), r["event"], r["user"] or "", r["address"] or "", r["path"] or "", r["detail"] or "")
                for r in service.access.latest(limit=limit, event=event)]
    _print_table(("AT", "EVENT", "USER", "ADDRESS", "PATH", "DETAIL"), rows)

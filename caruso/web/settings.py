"""``[services.web.settings]``: where the front office listens, its limits, and the roles.

Roles live here, beside the rest of the web service's settings, so a typo in a role
fails when the application loads (the settings are structured into these classes) and
``caruso check`` reports it with its line in ``caruso.toml``.
"""

from __future__ import annotations

from pathlib import Path

import attrs

__all__ = ["ANY", "RoleSettings", "WebSettings"]

ANY = "*"
"""In a role's lists: every menu, view, object or action."""


@attrs.frozen
class RoleSettings:
    """``[services.web.settings.roles.NAME]``: what one role may use, read and write.

    Args:
        portal: the page a user of this role lands on after logging in (``/desktop``).
        menus: menu entries shown (their ids; ``"*"`` for all the role may reach).
        views: the declared views the role may open (their names, docs/views.md; ``"*"``:
            all); a view shows only objects the role may also read.
        read: business objects the role may read (``"*"``: all).
        write: business objects the role may create and change (``"*"``: all).
        actions: what else the role may do: ``desktop`` (take interactions),
            ``selfservice``, ``monitor``, ``reports``, ``admin``, ``api`` (the JSON API),
            ``interactions`` (read and offer interactions through the API).
        records: record rules, per business object: ``{ attribute = "user field" }``;
            a user reads and writes only records whose attribute equals the user's
            field (``customer``, ``name``, ``agent``) or is one of its values
            (``queues``). ``{ Customer = { id = "customer" } }`` lets a customer
            see only their own record.
    """

    portal: str = "/"
    menus: tuple[str, ...] = (ANY,)
    views: tuple[str, ...] = (ANY,)
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    records: dict[str, dict[str, str]] = attrs.field(factory=dict)


def _default_roles() -> dict[str, RoleSettings]:
    """The roles an application has before its descriptor names any."""
    return {
        "admin": RoleSettings(portal="/admin", read=(ANY,), write=(ANY,),
                              actions=("admin", "monitor", "reports", "api", "desktop")),
        "supervisor": RoleSettings(portal="/supervisor", read=(ANY,), actions=("monitor", "reports")),
        "agent": RoleSettings(portal="/desktop", read=(ANY,), write=(ANY,), actions=("desktop",)),
        "customer": RoleSettings(portal="/self-service", menus=("self-service",), views=(), read=(),
                                 actions=("selfservice",)),
    }


@attrs.frozen
class WebSettings:
    """``[services.web.settings]``.

    Args:
        host, port: where uvicorn listens (``port = 0``: a free port, see ``WebService.port``).
        secret_key_file: where the key that signs session cookies is kept, relative to the
            application folder; created (mode 0600) when missing.
        session_hours: a session ends this long after the last request.
        max_body: the largest request body accepted, in bytes (a larger one is refused
            with 413 before it is read).
        login_attempts, login_window: after this many failed logins for one user name or
            from one address within ``login_window`` seconds, further attempts are refused
            with 429 until the window has passed.
        trusted_proxies: addresses of the TLS-terminating proxies whose
            ``X-Forwarded-Proto`` header is believed (cookies are then marked Secure).
        roles: the roles by name (see ``RoleSettings``); replaces the default roles.
        views: view files or folders of ``*.xml`` files (docs/views.md), relative to the
            application folder; read after the plugins' views, so the application's own
            replace and extend theirs.
    """

    host: str = "127.0.0.1"
    port: int = 8900
    secret_key_file: Path = Path(".caruso/web-secret")
    session_hours: float = 8.0
    max_body: int = 1 << 20
    login_attempts: int = 5
    login_window: float = 300.0
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    roles: dict[str, RoleSettings] = attrs.field(factory=_default_roles)
    views: tuple[Path, ...] = (Path("views"),)

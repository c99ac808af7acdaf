"""What every channel shares: the server it feeds, the customer it identifies, the history it writes.

A channel turns something a customer sent (a mail, a chat line, an SMS) into
either a new interaction in the communication server's queue or a message on
an interaction that is still open, and records every message, in or out, in
the ``history`` service. The steps are the same whatever the medium, so they
live here once:

- ``identify(address)``: the customer of an address, with the server's own
  ``identify`` settings (so an e-mail and a call from the same customer match
  the same business object), and the priority its expression gives;
- ``new_contact(...)``: an unknown sender becomes a new business object when
  the channel's ``new_contact`` settings name one;
- ``open_interaction(id)``: the interaction if it is still open (waiting,
  offered, connected) - a later message joins it;
- ``record(...)``: one history entry with the channel's name.

A channel class also implements the server's ``Channel`` interface (ring,
connect, withdraw, release), and the server finds it through its
``channels`` setting (``email = "email"`` and so on, the default).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import sqlalchemy as sa

from caruso.errors import CarusoError, InteractionStateError, UnknownName
from caruso.services.base import Service
from caruso.services.channels.history import HistoryEntry
from caruso.services.communication.connectors import Channel

__all__ = ["OPEN_STATES", "ChannelService", "NewContactSettings"]

log = logging.getLogger("caruso.channels")

OPEN_STATES = frozenset({"new", "ivr", "waiting", "offered", "connected"})
"""States in which a further message from the customer joins the interaction."""


@attrs.frozen
class NewContactSettings:
    """``new_contact``: create a business object for a sender no customer matches.

    Args:
        object: the business object to create (``Contact``, ``Customer``); None: unknown
            senders stay unidentified (recorded by address).
        address: its attribute for the e-mail address or phone number.
        name: its attribute for the display name the message gives, if any.
        values: fixed values for other attributes (``{ source = "e-mail" }``).
    """

    object: str | None = None
    address: str = "email"
    name: str | None = None
    values: dict[str, Any] = attrs.field(factory=dict)


class ChannelService(Service, Channel):
    """Default base class of a channel service (see the module docstring).

    Subclasses set ``channel`` (the server's channel name) and call
    ``super().on_start()`` first; they reach ``self.server``, ``self.history``,
    ``self.clock`` and ``self.manager``.
    """

    channel: ClassVar[str] = ""
    requires = ("storage", "clock", "communication", "history")

    server: Any = None
    history: Any = None

    def on_start(self) -> None:
        from caruso.services.communication.identify import CustomerIdentifier

        manager = self.manager = self.context.manager
        self.clock = manager.resolve("clock")
        self.server = manager.get("communication")
        self.history = manager.get("history")
        identify = getattr(getattr(self.server, "config", None), "identify", None)
        self._identifier = CustomerIdentifier.for_settings(identify, manager) if identify is not None else None

    def settings_of(self, cls: type) -> Any:
        """The service's settings as ``cls`` (a dict from a test is structured here)."""
        settings = self.context.settings if self.context is not None else None
        if isinstance(settings, cls):
            return settings
        from caruso.config import _converter

        return _converter(self.context.root).structure(settings or {}, cls)

    # --- customers --------------------------------------------------------------------

    def identify(self, address: str | None) -> tuple[Any, int]:
        """(customer key or None, extra priority) of ``address``, as the server would find it."""
        if not address or self._identifier is None:
            return None, 0
        return self._identifier.identify(self.channel, address)

    def new_contact(self, settings: NewContactSettings, address: str, name: str | None = None) -> Any:
        """Create the business object for an unknown sender; its key, or None (not configured,
        or the database refused: the message goes on unidentified, never lost)."""
        if settings.object is None or not address or "bom" not in self.manager:
            return None
        bom = self.manager.get("bom")
        try:
            cls = bom.model[settings.object]
            values = dict(settings.values)
            values[settings.address] = address
            if settings.name:
                values[settings.name] = name or address
            with bom.unit_of_work(user=f"channel:{self.channel}") as session:
                created = cls(**values)
                session.add(created)
                session.flush()
                identity = sa.inspect(created).identity
        except (CarusoError, TypeError, KeyError) as exc:
            log.warning("%s channel: could not create a %s for %r: %s", self.channel, settings.object, address, exc)
            return None
        return identity[0] if identity and len(identity) == 1 else (list(identity) if identity else None)

    def customer_for(self, settings: NewContactSettings, address: str | None,
                     name: str | None = None) -> tuple[Any, int, bool]:
        """(customer, priority, created): identified, else a new contact when configured."""
        customer, priority = self.identify(address)
        if customer is not None or not address:
            return customer, priority, False
        created = self.new_contact(settings, address, name)
        if created is not None and self.history is not None:
            self.history.assign(address, created)
        return created, 0, created is not None

    # --- interactions -----------------------------------------------------------------

    def open_interaction(self, interaction_id: str | None) -> Any:
        """The interaction's view while a message from the customer still joins it, else None."""
        if not interaction_id:
            return None
        try:
            view = self.server.interaction(interaction_id)
        except (UnknownName, InteractionStateError):
            return None
        return view if view.state in OPEN_STATES else None

    def record(self, direction: str, *, customer: Any = None, address: str | None = None,
               agent: str | None = None, interaction: str | None = None, subject: str | None = None,
               summary: str | None = None, body: str | None = None, attachments: Sequence[str] = (),
               data: Mapping[str, Any] | None = None) -> HistoryEntry:
        """One history entry on this channel."""
        return self.history.record(channel=self.channel, direction=direction, customer=customer,
                                   address=address, agent=agent, interaction=interaction, subject=subject,
                                   summary=summary, body=body, attachments=attachments, data=data)

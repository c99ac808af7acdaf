"""What the communication server asks of channels and of the telephone system.

Contacts come in through one door, ``CommunicationServer.offer(channel, ...)``,
whatever brought them: the e-mail channel, the chat endpoint, an SMS webhook,
the telephony connector. What the server needs back from a channel is small,
and is this interface: tell the agent's endpoint that something rings,
connect the customer to it, take it back, release it at the end.

Voice needs more, so it has a connector of its own (``TelephonyConnector``):
play the IVR's prompts and collect keypad digits, record a voicemail, offer a
call back, dial out for campaigns. Every method is a *request*: the connector
does it in its own time and reports what happened through the server's API
(``dtmf``, ``hangup``, ``voicemail_left``, ``callback_accepted``,
``dial_result``). A connector to a real PBX (Asterisk ARI, FreeSWITCH ESL, a
SIP trunk provider's API) is a service providing ``TelephonyConnector`` under
the name ``telephony``, contributed by a plugin; ``docs/telephony.md`` walks
through writing one.

``SimulatedTelephony`` is the built-in connector: no telephone system, callers
played by code (the simulator, the tests, the demo).
"""

from __future__ import annotations

import io
import random
import threading
import wave
from collections.abc import Callable
from typing import Any

import attrs

from caruso.services.base import Service

__all__ = ["Channel", "DialRequest", "SimulatedTelephony", "TelephonyConnector"]


class Channel:
    """The interface (and a do-nothing default base class) of a channel's delivery side.

    The server calls these after its own state has changed, never while it is
    half-way; ``interaction`` is an ``InteractionView`` and ``agent`` an ``AgentView``
    (``agent.endpoint`` says where the agent is: an office extension, a phone at home).
    """

    def ring(self, interaction: Any, agent: Any) -> None:
        """An interaction is offered to ``agent``: alert its endpoint."""

    def connect(self, interaction: Any, agent: Any) -> None:
        """The agent accepted: connect the customer with the agent's endpoint."""

    def withdraw(self, interaction: Any, agent: Any) -> None:
        """The offer was taken back (timeout, another agent took it, the customer left)."""

    def release(self, interaction: Any) -> None:
        """The interaction is over: free whatever the channel holds for it."""


@attrs.frozen
class DialRequest:
    """An outbound call to place: the connector dials ``number`` and reports the result.

    Attributes:
        interaction: the id the result is reported for (``server.dial_result(id, result)``).
        number: the number to dial (E.164).
        campaign: the campaign it belongs to, if any.
        agent: the agent reserved for it (preview and progressive dialing), if any.
        timeout: seconds to let it ring before giving up (result ``no-answer``).
    """

    interaction: str
    number: str
    campaign: str | None = None
    agent: str | None = None
    timeout: float = 25.0


class TelephonyConnector(Channel):
    """The voice side: IVR prompts, voicemail, callbacks and outbound dialing."""

    def prompt(self, interaction: Any, view: Any) -> None:
        """Play the IVR step ``view`` (a ``SessionView``: prompt, choices with digits) and
        report the digits with ``server.dtmf(interaction.id, digits)``."""

    def record_voicemail(self, interaction: Any) -> None:
        """Play the voicemail greeting and record; report with ``server.voicemail_left``
        (or ``server.hangup`` when the caller leaves no message)."""

    def offer_callback(self, interaction: Any) -> None:
        """Offer the caller a call back; report ``server.callback_accepted`` if they take it."""

    def dial(self, request: DialRequest) -> None:
        """Place an outbound call; report ``server.dial_result(request.interaction, result)``
        with ``answered``, ``no-answer``, ``busy``, ``voicemail`` (an answering machine) or
        ``failed``."""


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 8 kHz WAV of silence: what a simulated caller says on a voicemail."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


@attrs.frozen
class SimulatedTelephonySettings:
    """``[services.telephony.settings]`` of the simulated connector.

    Args:
        leave_voicemail: callers asked to leave a message leave one (else they hang up).
        voicemail_seconds: how long the message they leave is.
        accept_callback: callers offered a call back accept it.
        answer_rate, busy_rate, machine_rate: for outbound calls, the chance that the
            callee answers, is busy, or an answering machine picks up (the rest: no answer).
        seed: for repeatable outbound results.
    """

    leave_voicemail: bool = True
    voicemail_seconds: float = 3.0
    accept_callback: bool = True
    answer_rate: float = 0.6
    busy_rate: float = 0.1
    machine_rate: float = 0.1
    seed: int | None = None


class SimulatedTelephony(Service, TelephonyConnector):
    """A telephone system played by code: the demo's and the tests' connector.

    It does what a PBX would, at once: callers answer IVR prompts from a list of
    digits given when they call (``call(..., digits=[...])``), leave a voicemail or
    accept a call back as the settings say, and outbound calls get a random result.
    Everything the server asked is kept in ``log`` for tests to read.
    """

    provides = (TelephonyConnector,)
    requires = ()
    Settings = SimulatedTelephonySettings

    def __init__(self) -> None:
        self.log: list[tuple[str, str, Any]] = []   # (request, interaction id, detail)
        self._server: Any = None
        self._digits: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.dial_results: Callable[[DialRequest], str] | None = None

    def on_start(self) -> None:
        settings = self._settings()
        self._rng = random.Random(settings.seed)

    def _settings(self) -> SimulatedTelephonySettings:
        settings = self.context.settings if self.context is not None else None
        if isinstance(settings, SimulatedTelephonySettings):
            return settings
        return SimulatedTelephonySettings(**(settings or {}))

    # --- callers --------------------------------------------------------------------

    @property
    def server(self) -> Any:
        """The communication server to report to: the ``communication`` service, found when needed."""
        if self._server is None:
            self._server = self.context.manager.get("communication")
        return self._server

    def attach(self, server: Any) -> None:
        """Report to ``server`` instead of the registered ``communication`` service."""
        self._server = server

    def call(self, caller: str, *, queue: str | None = None, digits: list[str] | None = None,
             call_id: str | None = None, **details: Any) -> Any:
        """A caller rings in from ``caller``; ``digits`` answer the IVR's prompts in turn."""
        view = self.server.offer("voice", address=caller, queue=queue, external=call_id, **details)
        if digits:
            with self._lock:
                self._digits[view.id] = list(digits)
            self._next_digit(view.id)
        return view

    def hang_up(self, interaction_id: str) -> None:
        """The caller hangs up."""
        self.server.hangup(interaction_id, by="customer")

    # --- what the server asks -------------------------------------------------------

    def _record(self, request: str, interaction_id: str, detail: Any = None) -> None:
        with self._lock:
            self.log.append((request, interaction_id, detail))

    def ring(self, interaction, agent):
        self._record("ring", interaction.id, agent.endpoint)

    def connect(self, interaction, agent):
        self._record("connect", interaction.id, agent.endpoint)

    def withdraw(self, interaction, agent):
        self._record("withdraw", interaction.id, agent.endpoint)

    def release(self, interaction):
        self._record("release", interaction.id)
        with self._lock:
            self._digits.pop(interaction.id, None)

    def prompt(self, interaction, view):
        self._record("prompt", interaction.id, view.step)
        with self._lock:
            waiting = bool(self._digits.get(interaction.id))
        if waiting:
            self._next_digit(interaction.id)

    def _next_digit(self, interaction_id: str) -> None:
        with self._lock:
            queue = self._digits.get(interaction_id)
            digit = queue.pop(0) if queue else None
        if digit is not None:
            self.server.dtmf(interaction_id, digit)

    def record_voicemail(self, interaction):
        settings = self._settings()
        self._record("voicemail", interaction.id)
        if settings.leave_voicemail:
            self.server.voicemail_left(interaction.id, silent_wav(settings.voicemail_seconds),
                                       duration=settings.voicemail_seconds)
        else:
            self.server.hangup(interaction.id, by="customer")

    def offer_callback(self, interaction):
        self._record("offer-callback", interaction.id)
        if self._settings().accept_callback:
            self.server.callback_accepted(interaction.id)

    def dial(self, request):
        self._record("dial", request.interaction, request.number)
        if self.dial_results is not None:
            result = self.dial_results(request)
        else:
            settings = self._settings()
            draw = self._rng.random()
            result = "no-answer"
            for name, rate in (("answered", settings.answer_rate), ("busy", settings.busy_rate),
                               ("voicemail", settings.machine_rate)):
                if draw < rate:
                    result = name
                    break
                draw -= rate
        self.server.dial_result(request.interaction, result)

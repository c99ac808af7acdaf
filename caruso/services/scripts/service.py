"""The ``scripts`` service: dialogue scripts loaded, checked and run as persistent sessions.

At start it reads every script - the plugins' (``register_scripts`` hook),
then the application's own ``scripts/`` folder or the files and folders its
settings name - checks them against the registered actions and the business
objects, and refuses to start on any finding, each as file:line. Sessions are
kept in storage (``store.py``; the table is registered only when there is at
least one script, so an application without scripts has no such table): every call loads the session, moves it and
saves it, so a session survives a restart and can be continued on another
channel::

    scripts = app.services.get("scripts")
    view = scripts.start_session("meter-reading", mode="self-service", customer=42,
                         context={"channel": "web"})
    view = scripts.answer(view.session_id, "gas")
    ...
    # the customer calls; the agent takes over and sees every answer given
    view = scripts.resume(view.session_id, mode="agent", channel="phone")

Every session that reaches an end is recorded as an activity on its customer
when the model has an activity object (``ActivitySettings``).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from datetime import timedelta
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import (
    Problem,
    ScriptDefinitionError,
    ScriptError,
    ServiceStateError,
    did_you_mean,
)
from caruso.plugins import contributed_paths
from caruso.services.base import DOWN, Health, Service
from caruso.services.scripts.actions import BUILTIN_ACTIONS, ActionDefinition, check_arguments
from caruso.services.scripts.activity import ActivitySettings, SessionRecorder
from caruso.services.scripts.interpreter import DEFAULT_MAX_SILENT_STEPS, Interpreter, LiveSession
from caruso.services.scripts.model import Binding, Question, Script
from caruso.services.scripts.state import ACTIVE, ENDED, FAILED
from caruso.services.scripts.store import SessionStore
from caruso.services.scripts.views import SessionView

__all__ = ["ScriptsService", "ScriptsSettings", "script_paths"]

DEFAULT_SCRIPTS = Path("scripts")
MAX_BOUND_OBJECTS = 1000
"""A ``many`` binding loads at most this many objects: a script shows a customer's
contracts, not a table."""


@attrs.frozen
class ScriptsSettings:
    """``[services.scripts.settings]``.

    Args:
        scripts: script files or folders of ``*.xml``, relative to the
            application folder, read after the plugins' scripts. A missing
            default ``scripts`` folder is fine; a path named explicitly must exist.
        max_silent_steps: steps a session may pass in one move without
            asking anything before it is stopped as a loop.
        cached_sessions: live sessions kept in memory between calls (their
            bound objects stay loaded); the stored state is the truth either way.
        activity: where completed sessions land in the contact history.
        reuse_answers_within: seconds; a new session for a customer skips the
            questions the customer answered in any session saved this recently
            (on any channel), unless a question asks to confirm. 0 turns it off.
            The default, a day, covers one contact that moves between channels
            without reusing answers that may have changed since (a meter reading).
    """

    scripts: tuple[Path, ...] = (DEFAULT_SCRIPTS,)
    max_silent_steps: int = DEFAULT_MAX_SILENT_STEPS
    cached_sessions: int = 10_000
    activity: ActivitySettings = attrs.field(factory=ActivitySettings)
    reuse_answers_within: float = attrs.field(default=86_400.0, validator=attrs.validators.ge(0))


class ScriptsService(Service):
    """The default ``scripts`` service: scripts from files, sessions in storage."""

    requires = ("storage", "bom", "clock")
    Settings = ScriptsSettings

    def __init__(self) -> None:
        self.interpreters: dict[str, Interpreter] = {}
        self.store: SessionStore | None = None
        self._recorder: SessionRecorder | None = None
        self._cache: OrderedDict[str, tuple[int, LiveSession]] = OrderedDict()
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------

    def on_start(self) -> None:
        from caruso.services.scripts.check import load_scripts
        from caruso.services.scripts.expressions import ExpressionEngine

        context = self.context
        settings = self._settings()
        manager = context.manager
        bom = manager.get("bom")
        clock = manager.get("clock")
        actions = self._actions()
        engine = ExpressionEngine()
        model = getattr(bom, "model", None)
        objects = _object_names(model)
        scripts = load_scripts(
            script_paths(context.app, settings, context.root), engine=engine, actions=actions, objects=objects
        )
        problems = [p for script in scripts.values() for p in check_arguments(script, actions)]
        if problems:
            raise ScriptDefinitionError(problems)
        self._recorder = SessionRecorder.for_application(manager, bom, settings.activity, clock)
        loader = _ObjectLoader(bom)
        self.interpreters = {
            script_id: Interpreter(
                script, engine=engine, actions=actions, clock=clock, services=manager, bom=bom,
                objects=loader, activities=self._recorder, max_silent_steps=settings.max_silent_steps,
            )
            for script_id, script in scripts.items()
        }
        self.clock = clock
        self.store = SessionStore(manager.get("storage"))
        if self.interpreters:  # an application without scripts gets no sessions table
            self.store.register()

    def on_stop(self) -> None:
        if self.store is not None:
            self.store.unregister()
        self.store = None
        self.interpreters = {}
        self._cache.clear()

    def health(self) -> Health:
        if self.store is None:
            return Health(DOWN, "not started")
        return Health(detail=f"{len(self.interpreters)} scripts")

    # --- the API ----------------------------------------------------------------

    @property
    def scripts(self) -> Mapping[str, Script]:
        """The loaded scripts by id."""
        return {script_id: i.script for script_id, i in self.interpreters.items()}

    def start_session(
        self,
        script_id: str,
        *,
        context: Mapping[str, Any] | None = None,
        mode: str = "agent",
        language: str | None = None,
        customer: Any = None,
        channel: str | None = None,
        known: Mapping[str, Any] | None = None,
    ) -> SessionView:
        """Start a session and show its first step.

        (Not ``start``: that name is the service lifecycle's, called by the manager.)

        Args:
            script_id: the script's id.
            context: the contact's context (``queue``, ``agent`` ...), what
                expressions see as ``context``; must be JSON-like data.
            mode: ``agent``, ``self-service`` or ``ivr``.
            language: the prompts' language; default the script's first.
            customer: the customer's key, as ``context.customer_id`` (for
                ``<bind key="context.customer_id">`` and the activity).
            channel: the channel (``phone``, ``web``), as ``context.channel``.
            known: answers already known (from an earlier session, from the
                IVR), by variable; their questions are skipped unless they confirm.
                With a ``customer``, the answers that customer gave in sessions
                saved within ``reuse_answers_within`` are known too (``known``
                wins where both have a variable).

        Raises:
            ScriptError: no script has that id, or the script failed at once.
        """
        interpreter = self._interpreter(script_id)
        full_context = dict(context or {})
        if customer is not None:
            full_context["customer_id"] = customer
        if channel is not None:
            full_context["channel"] = channel
        if customer is not None:
            known = {**self._recent_answers(customer, interpreter.script), **(known or {})}
        live = interpreter.create(uuid.uuid4().hex, mode=mode, language=language, context=full_context,
                                  known=known)
        failure: ScriptError | None = None
        try:
            interpreter.enter(live)
        except ScriptError as exc:
            failure = exc  # stored as failed below, so what was done is on record
        if live.state.status == ENDED:
            self._completed(interpreter, live)
        stored = self._store().insert(live.state, self.clock.now())
        self._remember(live, stored.revision)
        if failure is not None:
            raise failure
        return interpreter.view(live)

    def _recent_answers(self, customer: Any, script: Script) -> dict[str, Any]:
        """The customer's recent answers to the questions of ``script`` that allow reuse
        (``reuse="no"`` and yes/no questions are asked in every session)."""
        window = self._settings().reuse_answers_within
        if not window:
            return {}
        reusable = {step.variable for step in script.steps.values() if isinstance(step, Question) and step.reuse}
        since = self.clock.now() - timedelta(seconds=window)
        return {name: value for name, value in self._store().recent_answers(customer, since=since).items()
                if name in reusable}

    def view(self, session_id: str) -> SessionView:
        """The session's current step, with every answer given so far.

        Raises:
            SessionNotFound: no session has that id.
        """
        interpreter, live, _revision = self._load(session_id)
        return interpreter.view(live)

    def answer(self, session_id: str, value: Any) -> SessionView:
        """Answer the current step; the next step, or the same one with ``error`` saying why
        the answer was refused.

        Raises:
            SessionNotFound: no session has that id.
            ScriptError: the session has ended; or moving on failed (``ActionFailed``,
                ``ScriptLoopError``, ``ExpressionError``) - the session is then
                stored as failed with the message.
        """
        return self._operate(session_id, lambda interpreter, live: interpreter.answer(live, value))

    def back(self, session_id: str) -> SessionView:
        """Go back to the previous step that asked something; answers are kept."""
        def back(interpreter: Interpreter, live: LiveSession) -> None:
            interpreter.back(live)

        return self._operate(session_id, back)

    def resume(self, session_id: str, *, mode: str, channel: str | None = None,
               language: str | None = None) -> SessionView:
        """Continue a session in another mode or channel (an agent taking over from the web).

        Its business objects are loaded again, so the agent sees current data.
        """
        def resume(interpreter: Interpreter, live: LiveSession) -> None:
            interpreter.resume(live, mode=mode, channel=channel, language=language)

        with self._lock:
            self._cache.pop(session_id, None)  # reload the bound objects
        return self._operate(session_id, resume, always_save=True)

    def sessions(self, *, customer: Any = None, status: str | None = None,
                 script: str | None = None) -> list[str]:
        """Ids of stored sessions, newest first: a customer's, the active ones, a script's."""
        return list(self._store().ids(customer=None if customer is None else str(customer),
                                      status=status, script=script))

    # --- inside -----------------------------------------------------------------

    def _operate(self, session_id: str, operation: Callable[[Interpreter, LiveSession], str | None],
                 *, always_save: bool = False) -> SessionView:
        interpreter, live, revision = self._load(session_id)
        state = live.state
        was_active = state.status == ACTIVE
        before = state.to_json()
        refused: str | None = None
        failure: ScriptError | None = None
        try:
            refused = operation(interpreter, live)
        except ScriptError as exc:
            if not (was_active and state.status == FAILED):
                raise  # nothing moved (the session had ended): nothing to store
            failure = exc
        if was_active and state.status == ENDED:
            self._completed(interpreter, live)
        if always_save or state.to_json() != before:
            revision = self._store().save(state, revision, self.clock.now())
        self._remember(live, revision)
        if failure is not None:
            raise failure
        return interpreter.view(live, error=refused)

    def _load(self, session_id: str) -> tuple[Interpreter, LiveSession, int]:
        stored = self._store().load(session_id)
        interpreter = self._interpreter(stored.state.script)
        with self._lock:
            cached = self._cache.get(session_id)
        if cached is not None and cached[0] == stored.revision:
            return interpreter, cached[1], stored.revision
        return interpreter, interpreter.attach(stored.state), stored.revision

    def _remember(self, live: LiveSession, revision: int) -> None:
        limit = self._settings().cached_sessions
        with self._lock:
            self._cache[live.state.id] = (revision, live)
            self._cache.move_to_end(live.state.id)
            while len(self._cache) > limit:
                self._cache.popitem(last=False)

    def _completed(self, interpreter: Interpreter, live: LiveSession) -> None:
        if self._recorder is not None:
            self._recorder.record_completion(live.state, interpreter.script.title)

    def _interpreter(self, script_id: str) -> Interpreter:
        found = self.interpreters.get(script_id)
        if found is None:
            known = sorted(self.interpreters)
            hint = did_you_mean(script_id, known) or (f"; loaded: {', '.join(known)}" if known else "; none is loaded")
            raise ScriptError(f"no dialogue script {script_id!r}{hint}")
        return found

    def _store(self) -> SessionStore:
        if self.store is None:
            raise ServiceStateError("the scripts service has not started")
        return self.store

    def _settings(self) -> ScriptsSettings:
        settings = self.context.settings if self.context is not None else None
        if isinstance(settings, ScriptsSettings):
            return settings
        return ScriptsSettings(**(settings or {}))

    def _actions(self) -> dict[str, ActionDefinition]:
        app = self.context.app
        if app is None:
            return {a.name: a for a in BUILTIN_ACTIONS}
        from caruso.services.scripts.check import application_actions

        return application_actions(app)


def script_paths(app: Any, settings: ScriptsSettings, root: Path) -> list[Path]:
    """The script files and folders of an application: each plugin's (``register_scripts``
    hook, plugin order), then the application's own."""
    return contributed_paths(app, "register_scripts", settings.scripts, default=DEFAULT_SCRIPTS, root=root)


def _object_names(model: Any) -> dict[str, frozenset[str]] | None:
    """Business-object name -> what a binding may name, from the running model."""
    if model is None:
        return None
    names: dict[str, frozenset[str]] = {}
    for name, cls in model.classes.items():
        info = getattr(cls, "__caruso__", None)
        if info is not None:
            names[name] = frozenset(info.keys)
    return names


class _ObjectLoader:
    """Loads ``<bind>``s through the bom service, as read-only ``ScriptObject`` snapshots."""

    def __init__(self, bom: Any):
        self.bom = bom

    def __call__(self, binding: Binding, key: Any, match: Mapping[str, Any]) -> Any:
        from caruso.services.scripts.expressions import ScriptObject

        model = self.bom.model
        if binding.object not in model:
            raise ScriptError(f"{binding.where}: no business object {binding.object!r}{did_you_mean(binding.object, model)}")
        cls = model[binding.object]
        with self.bom.session() as session:
            if key is not None:
                found = cls.get(session, _typed_key(cls, key))
                rows = [] if found is None else [found]
            else:
                statement = cls.select(**match).limit(MAX_BOUND_OBJECTS if binding.many else 1)
                rows = list(session.scalars(statement))
            objects = [ScriptObject(binding.object, row.to_dict()) for row in rows]
        if binding.many:
            return objects
        return objects[0] if objects else None


def _typed_key(cls: type, key: Any) -> Any:
    """A key from a context (often text: "42") in the type of the object's key column."""
    columns = list(sa.inspect(cls).primary_key)
    if len(columns) == 1 and isinstance(key, str):
        try:
            python_type = columns[0].type.python_type
        except NotImplementedError:
            return key
        if python_type is int and key.strip().lstrip("-").isdigit():
            return int(key)
    return key


def check_application_scripts(app: Any) -> list[Problem]:
    """Problems in the application's scripts, for ``caruso check``: read, checked against the
    application's actions and business objects, without starting anything."""
    from caruso.config import structure_settings
    from caruso.services.scripts.check import application_actions, application_objects, check_scripts
    from caruso.services.scripts.expressions import ExpressionEngine
    from caruso.services.scripts.reader import read_scripts

    section = app.config.services.get("scripts")
    settings = ScriptsSettings()
    if section is not None and section.settings:
        settings = structure_settings(ScriptsSettings, section.settings, config=app.config, service="scripts")
    scripts, problems = read_scripts(script_paths(app, settings, app.root))
    actions = application_actions(app)
    problems.extend(check_scripts(scripts, engine=ExpressionEngine(), actions=actions,
                                  objects=application_objects(app)))
    for script in scripts:
        problems.extend(check_arguments(script, actions))
    return problems

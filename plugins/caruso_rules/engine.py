"""The rules engine: from a committed change to the rules it fires, and their actions run.

Why after the commit: a rule reacts to what *happened*. Run inside the flush, a
rule would see changes that may still roll back, and its own writes would be
tangled with the saver's transaction. So ``watch.py`` collects each flush's
changes and hands them over once the transaction has committed; the rules then
run at once, in the saving thread, each firing in its own transactions (the
actions' units of work), and every firing is written to the run log.

Why rules cannot run away: an action that saves a business object triggers
rules in turn (an update that fires the same rule again, two rules feeding each
other). Each firing runs one level deeper than the save that caused it, and a
firing deeper than ``max_depth`` is not run but logged with status ``loop``,
naming the chain, so a rule that triggers itself is bounded and reported.

Conditions and arguments are the dialogue scripts' sandboxed expressions, and
actions are the scripts' registered actions (``register_actions``): a rule can do
whatever a script can, and a plugin's new action is available to both.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.bom.audit import acting_as
from caruso.bom.values import to_text
from caruso.errors import CarusoError, ExpressionError
from caruso.services.scripts._sandbox import ScriptObject
from caruso.services.scripts.actions import ActionContext
from caruso.services.scripts.model import ActionCall
from caruso.services.scripts.state import SessionState

from caruso_rules.model import Rule
from caruso_rules.runs import RuleRun, RunLog

__all__ = ["Change", "RulesEngine"]

log = logging.getLogger("caruso.rules")

_depth: ContextVar[int] = ContextVar("caruso_rule_depth", default=0)
_chain: ContextVar[tuple[str, ...]] = ContextVar("caruso_rule_chain", default=())


@attrs.frozen
class Change:
    """One object's change in a committed transaction, as rules see it.

    ``event`` is ``created``, ``changed`` or ``deleted``; ``values`` the object's
    attribute values after the change (before it, for ``deleted``); ``old`` the
    values before a change; ``changed`` the names that changed (attributes, key
    attributes such as ``customer_id``, and the references they belong to).
    """

    event: str
    object: str
    key: Any
    values: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    changed: frozenset[str] = frozenset()


class _Plan:
    """What the engine reads of one business-object class, worked out once."""

    def __init__(self, cls: type):
        mapper = sa.inspect(cls)
        self.name = cls.__caruso__.name
        self.keys = tuple(prop.key for prop in mapper.column_attrs)
        self.primary_key = tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)
        self.references: dict[str, str] = {}  # key attribute -> reference name
        for relationship in mapper.relationships:
            if relationship.direction.name == "MANYTOONE":
                for column in relationship.local_columns:
                    self.references[mapper.get_property_by_column(column).key] = relationship.key

    def key_of(self, values: Mapping[str, Any]) -> Any:
        key = tuple(values.get(name) for name in self.primary_key)
        return key[0] if len(key) == 1 else key

    def change(self, obj: object, event: str) -> Change | None:
        """The change ``obj`` underwent in the flush that is ending (None: nothing changed)."""
        state = sa.inspect(obj)
        values = {key: state.dict.get(key) for key in self.keys}
        if event != "changed":
            return Change(event, self.name, self.key_of(values), values)
        old = dict(values)
        changed: set[str] = set()
        for key in self.keys:
            history = state.attrs[key].history
            if not history.added and not history.deleted:
                continue
            before = history.deleted[0] if history.deleted else None
            if before != values[key]:
                old[key] = before
                changed.add(key)
                if key in self.references:
                    changed.add(self.references[key])
        if not changed:
            return None
        return Change(event, self.name, self.key_of(values), values, old, frozenset(changed))


class _Compiled:
    """A rule ready to run: its condition and action arguments compiled once."""

    def __init__(self, rule: Rule, engine: Any, actions: Mapping[str, Any]):
        self.rule = rule
        self.condition = engine.compile_condition(rule.condition) if rule.condition is not None else None
        self.actions: list[tuple[ActionCall, Any, dict[str, Callable]]] = [
            (call, actions[call.name], {name: engine.compile_value(expr) for name, expr in call.arguments.items()})
            for call in rule.actions
        ]

    def matches(self, change: Change) -> bool:
        """Whether the change is this rule's event (the condition aside)."""
        rule = self.rule
        if rule.on == "reached":
            if change.event == "created":
                return _text(change.values.get(rule.attribute)) == rule.value
            return (change.event == "changed" and rule.attribute in change.changed
                    and _text(change.values.get(rule.attribute)) == rule.value
                    and _text(change.old.get(rule.attribute)) != rule.value)
        if rule.on != change.event:
            return False
        return rule.attribute is None or rule.attribute in change.changed


class RulesEngine:
    """Runs an application's rules on the changes of its business objects.

    Args:
        rules: the rules, read and checked.
        bom: the bom service (units of work for actions, the model's classes).
        services: the service manager (for actions that call services).
        clock: the injected clock: ``now`` in expressions, timers, run times.
        actions: the registered actions by name.
        expressions: the expression engine compiling conditions and arguments.
        run_log: where firings are written.
        max_depth: how deep rules may trigger rules.
    """

    def __init__(self, rules: Sequence[Rule], *, bom: Any, services: Any, clock: Any,
                 actions: Mapping[str, Any], expressions: Any, run_log: RunLog, max_depth: int = 8,
                 due_batch: int = 1000):
        self.bom = bom
        self.services = services
        self.clock = clock
        self.run_log = run_log
        self.max_depth = max_depth
        self.due_batch = due_batch
        self.rules = [_Compiled(rule, expressions, actions) for rule in rules if rule.enabled]
        self._by_object: dict[str, list[_Compiled]] = defaultdict(list)
        for compiled in self.rules:
            if compiled.rule.on != "due":
                self._by_object[compiled.rule.object].append(compiled)
        self._due = [compiled for compiled in self.rules if compiled.rule.on == "due"]
        self.plans = {name: _Plan(bom.model[name]) for name in {c.rule.object for c in self.rules}}
        self._subscribers: list[Callable[[RuleRun], None]] = []
        self._lock = threading.Lock()
        self.loops = 0
        self.failures = 0

    @property
    def watched(self) -> list[type]:
        """The business-object classes some rule watches."""
        return [self.bom.model[name] for name in self._by_object]

    def subscribe(self, callback: Callable[[RuleRun], None]) -> None:
        """Call ``callback`` with every firing (after it is written to the run log)."""
        self._subscribers.append(callback)

    # --- changes -------------------------------------------------------------------

    def handle(self, changes: Iterable[Change]) -> None:
        """Fire every rule the committed ``changes`` match. Never raises: whatever goes
        wrong is in the run log (the save it follows is committed and stays so)."""
        for change in changes:
            namespace = None  # built once per change, shared by the rules it matches
            for compiled in self._by_object.get(change.object, ()):
                if compiled.matches(change):
                    namespace = namespace or self._namespace(change)
                    try:
                        self._fire(compiled, change, namespace)
                    except Exception:  # a broken rule must not break the saves after it
                        log.exception("rule %r on %s %r failed to run", compiled.rule.name, change.object, change.key)

    def _namespace(self, change: Change) -> dict[str, Any]:
        """What conditions and arguments see (docs/rules.md#what-a-rule-sees), but ``rule``."""
        return {
            "object": ScriptObject(change.object, change.values),
            "old": ScriptObject(change.object, change.old) if change.old is not None else None,
            "changed": tuple(sorted(change.changed)),
            "now": self.clock.now(),
        }

    def _fire(self, compiled: _Compiled, change: Change, namespace: dict[str, Any], *,
              moment: dt.datetime | None = None) -> RuleRun | None:
        rule = compiled.rule
        namespace["rule"] = rule.name
        error = None
        try:
            holds = compiled.condition is None or compiled.condition(namespace)
        except ExpressionError as exc:
            holds, error = False, f"condition: {exc}"
        if not holds and error is None and moment is None:
            return None  # the common case, kept cheap: most saves fire no rule
        base = dict(rule=rule.name, event=change.event, object=change.object, key=_key_text(change.key),
                    at=namespace["now"], moment=moment, depth=_depth.get())
        if error is not None:
            return self._record(RuleRun(status="failed", error=error, **base))
        if not holds:
            return self._record(RuleRun(status="not-due", **base))
        chain = (*_chain.get(), f"{rule.name}({change.object} {base['key']})")
        if base["depth"] >= self.max_depth:
            self.loops += 1
            message = (f"rules triggered rules {self.max_depth} levels deep, so this one was not run: "
                       + " -> ".join(chain) + "; make a condition stop the chain (e.g. compare old and object)")
            log.error("rule %r: %s", rule.name, message)
            return self._record(RuleRun(status="loop", error=message, **base))
        state = SessionState(id=uuid.uuid4().hex, script=rule.name, version="", mode="rule", language="",
                             step=rule.name, context=_context(change))
        depth_token, chain_token = _depth.set(base["depth"] + 1), _chain.set(chain)
        try:  # on a copy: an action's ``set`` must not leak into the next rule's namespace
            error = self._run_actions(compiled, state, dict(namespace))
        finally:
            _depth.reset(depth_token)
            _chain.reset(chain_token)
        if error is not None:
            self.failures += 1
            log.warning("rule %r on %s %s: %s", rule.name, change.object, base["key"], error)
        return self._record(RuleRun(status="failed" if error else "done", error=error, requests=tuple(state.requests),
                                    notes=tuple(state.notes), **base))

    def _run_actions(self, compiled: _Compiled, state: SessionState, namespace: dict[str, Any]) -> str | None:
        """Run the rule's actions in order; the first failure stops them. Returns what failed, or None."""
        for call, definition, arguments in compiled.actions:
            try:
                values = {name: evaluate(namespace) for name, evaluate in arguments.items()}
                context = ActionContext(state=state, namespace=namespace, step=compiled.rule.name, where=call.where,
                                        services=self.services, bom=self.bom, clock=self.clock,
                                        user=f"rule:{compiled.rule.name}")
                with acting_as(f"rule:{compiled.rule.name}"):
                    definition.function(context, **values)
            except CarusoError as exc:
                return f"action {call.name!r} ({call.where}): {exc}"
            except Exception as exc:  # a plugin's action with a bug: reported, never lost
                return f"action {call.name!r} ({call.where}): {type(exc).__name__}: {exc}"
        return None

    def _record(self, run: RuleRun) -> RuleRun:
        try:
            self.run_log.write(run)
        except CarusoError as exc:
            log.error("rule %r: the run log cannot be written (%s): %s", run.rule, exc, run)
        for callback in list(self._subscribers):
            try:
                callback(run)
            except Exception:
                log.exception("a rule-run subscriber failed")
        return run

    # --- timers --------------------------------------------------------------------

    def run_due(self) -> int:
        """Fire every ``due`` rule whose moment (its attribute plus ``after``) has come,
        once per object and moment; returns how many moments were handled.

        A moment that comes while the condition does not hold is handled too (status
        ``not-due``): the timer expired, and the rule does not wait for the condition.
        Changing the attribute sets a new moment, which fires again.
        """
        with self._lock:  # the timer thread and a caller must not fire the same moment twice
            handled = 0
            now = self.clock.now()
            for compiled in self._due:
                handled += self._run_due_rule(compiled, now)
            return handled

    def _run_due_rule(self, compiled: _Compiled, now: dt.datetime) -> int:
        rule = compiled.rule
        cls = self.bom.model[rule.object]
        plan = self.plans[rule.object]
        column = getattr(cls, rule.attribute)
        cutoff = now - dt.timedelta(seconds=rule.after)
        done = self.run_log.handled(rule.name)
        handled = 0
        with self.bom.session() as session:
            rows = session.execute(sa.select(*(getattr(cls, key) for key in plan.keys))
                                   .where(column.is_not(None), column <= _comparable(cutoff, column))
                                   .order_by(column)).all()
        for row in rows:
            values = dict(zip(plan.keys, row, strict=True))
            moment = _moment(values[rule.attribute]) + dt.timedelta(seconds=rule.after)
            key = plan.key_of(values)
            if (_key_text(key), moment) in done:
                continue
            change = Change("due", rule.object, key, values)
            self._fire(compiled, change, self._namespace(change), moment=moment)
            handled += 1
            if handled >= self.due_batch:
                break  # the rest at the next run: one run never holds the timer for long
        return handled


def _context(change: Change) -> dict[str, Any]:
    """The session context an action sees: the object, and its customer when it has one."""
    context: dict[str, Any] = {"object": change.object, "object_key": _key_text(change.key)}
    customer = change.values.get("customer_id")
    if customer is not None:
        context["customer_id"] = customer
    return context


def _text(value: Any) -> str | None:
    return None if value is None else to_text(value)


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return json.dumps([to_text(part) for part in key])
    return to_text(key)


def _moment(value: dt.date | dt.datetime) -> dt.datetime:
    """A date or datetime attribute's value as an aware UTC datetime."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _comparable(moment: dt.datetime, column: Any) -> Any:
    """The cutoff in the column's kind: a date column compares with a date."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return moment
    return moment.date() if python_type is dt.date else moment

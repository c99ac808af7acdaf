"""The ``rules`` service: reads the rule files, checks them against the model, and runs them.

An application enables the plugin (``[plugins] enabled = ["rules"]``) and puts
rule files in its ``rules`` folder; plugins contribute theirs through the
``register_rules`` hook. The service refuses to start on any problem in them
(the same list ``caruso check`` prints), watches the business objects the
rules name, and - unless ``due_every`` is 0 - runs the ``due`` rules' timers on
a thread of its own.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import attrs

from caruso.errors import ConfigError, Problem, RuleDefinitionError, ServiceStateError
from caruso.plugins import contributed_paths
from caruso.services.base import Health, Service

from caruso_rules.check import check_rules, object_attributes
from caruso_rules.engine import RulesEngine
from caruso_rules.reader import read_rules
from caruso_rules.runs import RuleRun, RunLog
from caruso_rules import watch

__all__ = ["RulesService", "RulesSettings", "check_application_rules"]

log = logging.getLogger("caruso.rules")

DEFAULT_RULES = Path("rules")


@attrs.frozen
class RulesSettings:
    """``[services.rules.settings]``.

    Args:
        rules: rule files or folders of ``*.xml``, relative to the application folder,
            read after the plugins' rules. A missing default ``rules`` folder is fine.
        max_depth: how deep rules may trigger rules (an action's save firing a rule,
            whose action fires another...) before a firing is refused as a loop.
        due_every: seconds between two runs of the ``due`` rules' timers; 0 runs them
            only when ``run_due()`` is called (tests, a scheduler of your own).
        due_batch: the most moments one timer run handles per rule.
    """

    rules: tuple[Path, ...] = (DEFAULT_RULES,)
    max_depth: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    due_every: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    due_batch: int = attrs.field(default=1000, validator=attrs.validators.ge(1))


class RulesService(Service):
    """The default ``rules`` service."""

    requires = ("storage", "bom", "clock")
    Settings = RulesSettings

    def __init__(self) -> None:
        self.engine: RulesEngine | None = None
        self.run_log: RunLog | None = None
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def on_start(self) -> None:
        from caruso.services.scripts.check import application_actions
        from caruso.services.scripts.expressions import ExpressionEngine

        context = self.context
        settings = self._settings()
        manager = context.manager
        bom = manager.get("bom")
        rules, problems = read_rules(rule_paths(context.app, settings, context.root))
        actions = application_actions(context.app) if context.app is not None else _builtin_actions()
        expressions = ExpressionEngine()
        if not problems:
            problems = check_rules(rules, objects=_running_objects(bom), actions=actions, engine=expressions)
        if problems:
            raise RuleDefinitionError(problems)
        self.run_log = RunLog(manager.get("storage"))
        self.run_log.open()
        self.engine = RulesEngine(rules, bom=bom, services=manager, clock=manager.get("clock"), actions=actions,
                                  expressions=expressions, run_log=self.run_log, max_depth=settings.max_depth,
                                  due_batch=settings.due_batch)
        for cls in self.engine.watched:
            watch.watch(cls, self.engine)
        if settings.due_every and any(rule.on == "due" for rule in rules):
            self._stop.clear()
            self._timer = threading.Thread(target=self._run_timers, args=(settings.due_every,),
                                           name="caruso-rules-due", daemon=True)
            self._timer.start()
        log.info("rules: %d rules on %d business objects", len(self.engine.rules), len(self.engine.plans))

    def on_stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
            self._timer = None
        if self.engine is not None:
            for cls in self.engine.watched:
                watch.unwatch(cls)
        if self.run_log is not None:
            self.run_log.close()

    def health(self) -> Health:
        engine = self.engine
        if engine is None:
            return Health("stopped", "not started")
        if engine.loops:
            return Health("degraded", f"{engine.loops} firings refused as loops; see the run log (status 'loop')")
        return Health("ok", f"{len(engine.rules)} rules; {engine.failures} failed firings")

    # --- the API -------------------------------------------------------------------

    def run_due(self) -> int:
        """Run the ``due`` rules' timers now; how many moments were handled."""
        return self._engine().run_due()

    def runs(self, *, rule: str | None = None, statuses: Any = None) -> list[RuleRun]:
        """The run log: every firing, in order (of one rule, of some statuses)."""
        self._engine()
        return self.run_log.read(rule=rule, statuses=statuses)

    def subscribe(self, callback: Any) -> None:
        """Call ``callback(run)`` with every firing (a monitor, an alarm channel)."""
        self._engine().subscribe(callback)

    # --- internals -----------------------------------------------------------------

    def _engine(self) -> RulesEngine:
        if self.engine is None:
            raise ServiceStateError("the rules service is not started; start the application first")
        return self.engine

    def _run_timers(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.engine.run_due()
            except Exception:  # the database away for a moment: the next run catches up
                log.exception("rules: the due timers failed; trying again in %s s", every)

    def _settings(self) -> RulesSettings:
        settings = self.context.settings if self.context is not None else None
        if isinstance(settings, RulesSettings):
            return settings
        return RulesSettings(**(settings or {}))


def rule_paths(app: Any, settings: RulesSettings, root: Path) -> list[Path]:
    """The rule files and folders: each plugin's (``register_rules``), then the application's."""
    return contributed_paths(app, "register_rules", settings.rules, default=DEFAULT_RULES, root=root)


def check_application_rules(app: Any) -> list[Problem]:
    """Problems in the application's rules for ``caruso check``, from the files, starting nothing."""
    from caruso.config import structure_settings
    from caruso.services.scripts.check import application_actions
    from caruso.services.scripts.expressions import ExpressionEngine

    section = app.config.services.get("rules")
    settings = RulesSettings()
    try:
        if section is not None and section.settings:
            settings = structure_settings(RulesSettings, section.settings, config=app.config, service="rules")
    except ConfigError as exc:
        return list(exc.problems)
    rules, problems = read_rules(rule_paths(app, settings, app.root))
    if problems:
        return problems
    return check_rules(rules, objects=_file_objects(app), actions=application_actions(app), engine=ExpressionEngine())


def _running_objects(bom: Any) -> dict[str, dict[str, str]]:
    model = bom.model
    return {name: object_attributes(definition, model[name].__caruso__.keys)
            for name, definition in model.definitions.items()}


def _file_objects(app: Any) -> dict[str, dict[str, str]]:
    """The model's objects and attribute types, read from its files (as ``caruso check`` does)."""
    from caruso.bom.service import resolved_models

    return {name: object_attributes(found.definition, found.columns) for name, found in resolved_models(app).items()}


def _builtin_actions() -> dict[str, Any]:
    from caruso.services.scripts.actions import BUILTIN_ACTIONS

    return {action.name: action for action in BUILTIN_ACTIONS}

"""Every error Caruso raises on purpose, in one hierarchy.

A message says what is wrong, where (file:line, config key, service name) and,
when it can, how to fix it. Errors from libraries underneath are translated
with ``raise ... from exc`` so the cause stays visible in tracebacks.

::

    CarusoError                       root; ``exit_code`` for the CLI
    +-- ConfigError                   the descriptor (caruso.toml) is wrong
    +-- PluginError                   a plugin failed to import or to register
    +-- ServiceError                  something about one service
    |   +-- ServiceNotFound           lookup of an unknown name or interface
    |   +-- ServiceDefinitionError    a service object breaks the interface
    |   +-- DependencyError           missing requirement or cycle; names the chain
    |   +-- ServiceStartError         start() raised; the others were stopped again
    |   +-- ServiceStateError         the call does not fit the service's state
    +-- StorageError                  the database refused or failed an operation
    |   +-- IntegrityViolation        unique / foreign-key / not-null; names object and attribute
    |   +-- DatabaseUnavailable       unreachable or gone mid-transaction; rolled back
    |   +-- SchemaChangeRefused       `db upgrade` would drop or alter; names each change
    |   +-- TransferError             `db transfer` could not copy or verify a table
    +-- DocumentError                 an XML file is malformed, unsafe or breaks its DTD
    +-- ModelError                    business-object models are wrong; every problem, file:line
    |   +-- ValidationError           a save breaks a rule or type; names object, attribute, value
    +-- LegacySystemError             a wrapped legacy system failed
    |   +-- LegacyTimeout             it did not answer in time
    |   +-- LegacyUnavailable         it is down or unreachable
    |   +-- CircuitOpenError          we stopped calling it for a while
    +-- ScriptError                   root of the dialogue-script engine's errors
        +-- ScriptDefinitionError     script files are wrong; every problem, file:line
        +-- ExpressionError           an expression or template is wrong; file:line and source
        |   +-- SandboxViolation      it reached for something the sandbox does not allow
        |   +-- ExpressionLimitExceeded  too big a number, string, range, or too much time
        +-- ScriptLoopError           a session passed too many steps without asking anything
        +-- ActionFailed              an action of a script failed and no on-error step caught it
        +-- SessionNotFound           no dialogue session with that id
    +-- CommunicationError            root of the communication server's errors
        +-- RequirementError          a skill-requirement expression does not parse; names the column
        +-- UnknownName               no queue, agent, skill or strategy of that name; did-you-mean
        +-- InteractionStateError     the operation does not fit the interaction's or agent's state
        +-- EventLogUnavailable       the event log cannot be written: new interactions are refused
        +-- ChannelError              root of the e-mail, chat and SMS channels' errors
            +-- MessageRefused        too large, too many attachments, a flood; carries the protocol code
            +-- SignatureInvalid      a webhook's HMAC signature is missing or wrong: 403, nothing stored
            +-- DeliveryFailed        the relay or gateway refused or is down; the message stays queued
    +-- ReportingError                root of the monitor's and the reports' errors
        +-- ReportDefinitionError     report files are wrong; every problem, file:line, did-you-mean
        +-- ReportRequestError        a report cannot be made as asked: reversed or too long a period
    +-- RuleDefinitionError           rule files (the rules plugin) are wrong; every problem, file:line
    +-- ViewDefinitionError           view files (the front office) are wrong; every problem, file:line
    +-- TemplateError                 caruso new / caruso demo: no such template, or the folder exists
    +-- WebError                      the web front office refused a request or a user change

Programmer mistakes (wrong argument types to the Python API) stay plain
``TypeError`` / ``ValueError``, as in click: these errors are for the people who
configure and run a CRM.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher


class CarusoError(Exception):
    """Root of every error Caruso raises on purpose."""

    exit_code = 1


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A " (did you mean 'x'?)" suffix for messages, or "" when nothing is close."""
    word = str(word)
    scored = sorted(
        ((SequenceMatcher(None, word, str(c)).ratio(), str(c)) for c in candidates), reverse=True
    )
    # Offer the best match and any nearly as good; a long list of so-so guesses helps nobody.
    best = scored[0][0] if scored else 0.0
    matches = [c for ratio, c in scored[:3] if ratio >= 0.6 and ratio >= best - 0.1]
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


class _ProblemsError(CarusoError):
    """An error carrying every Problem found, so a checker can print them all at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str, file: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(file=file, line=None, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(_ProblemsError):
    """The application descriptor is malformed or inconsistent.

    Carries every problem found, not just the first, so ``caruso check`` can
    print them all at once.
    """


class Problem:
    """One thing wrong, located as ``file:line: message`` (file and line optional)."""

    __slots__ = ("file", "line", "message")

    def __init__(self, file: str | None, line: int | None, message: str):
        self.file = file
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.file or ""
        if self.file and self.line:
            where = f"{self.file}:{self.line}"
        return f"{where}: {self.message}" if where else self.message

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (self.file, self.line, self.message) == (other.file, other.line, other.message)


class PluginError(CarusoError):
    """A plugin could not be imported, verified or registered."""

    def __init__(self, plugin: str, message: str):
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class ServiceError(CarusoError):
    """Something is wrong with one service."""


class ServiceNotFound(ServiceError, LookupError):
    """No service is registered under that name or interface."""

    def __init__(self, wanted: str, known: Iterable[str] = ()):
        self.wanted = wanted
        known = sorted(known)
        hint = did_you_mean(wanted, known)
        if not hint and known:
            hint = "; registered: " + ", ".join(known)
        elif not known:
            hint = "; no services are registered"
        super().__init__(f"no service {wanted!r}{hint}")


class ServiceDefinitionError(ServiceError, TypeError):
    """A service object does not fit the service interface (checked at registration)."""


class DependencyError(ServiceError):
    """A requirement is missing or the requirements form a cycle.

    ``chain`` lists the services from the one that requires to the culprit.
    """

    def __init__(self, message: str, chain: list[str]):
        self.chain = chain
        super().__init__(message)


class ServiceStartError(ServiceError):
    """A service raised in start(); the services started before it were stopped again."""

    def __init__(self, name: str, cause: BaseException):
        self.name = name
        super().__init__(f"service {name!r} failed to start: {type(cause).__name__}: {cause}")


class ServiceStateError(ServiceError):
    """The operation does not fit the current state of the service."""


class LegacySystemError(CarusoError):
    """A wrapped legacy system failed; ``system`` names it and ``operation`` the call."""

    def __init__(self, system: str, operation: str, message: str):
        self.system = system
        self.operation = operation
        super().__init__(f"legacy system {system!r}, {operation}: {message}")


class LegacyTimeout(LegacySystemError):
    """The legacy system did not answer within the per-call timeout."""


class LegacyUnavailable(LegacySystemError):
    """The legacy system is down or unreachable."""


class CircuitOpenError(LegacyUnavailable):
    """The circuit breaker is open: calls fail fast until the retry time."""


# --- storage (caruso.storage) -------------------------------------------------


class StorageError(CarusoError):
    """The database refused or failed an operation; the transaction was rolled back."""


class IntegrityViolation(StorageError):
    """A unique, foreign-key, not-null or check rule of the database refused a write.

    Names the business object and attribute when the table and columns carry
    them (``table.info["caruso_object"]``, ``column.info["caruso_attribute"]``),
    else the table and columns.

    Attributes:
        kind: ``"unique"``, ``"foreign_key"``, ``"not_null"`` or ``"check"``.
        object_name: the business object's name, or None for a table no model names.
        attributes: the attributes (or columns) involved.
        table: the table name.
        constraint: the constraint name, when the database reported one.
        values: the offending values, when the database reported them.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        table: str | None = None,
        object_name: str | None = None,
        attributes: tuple[str, ...] = (),
        constraint: str | None = None,
        values: tuple = (),
    ):
        self.kind = kind
        self.table = table
        self.object_name = object_name
        self.attributes = attributes
        self.constraint = constraint
        self.values = values
        super().__init__(message)


class DatabaseUnavailable(StorageError):
    """The database cannot be reached, or went away in the middle of a transaction."""


class SchemaChangeRefused(StorageError):
    """``db upgrade`` found destructive changes and was not allowed to apply them."""

    def __init__(self, message: str, changes: list[str]):
        self.changes = changes
        super().__init__(message)


class TransferError(StorageError):
    """``db transfer`` could not copy a table, or the copy does not match the source.

    ``report`` holds the per-table figures when the copy ran but did not verify.
    """

    def __init__(self, message: str, report: object = None):
        self.report = report
        super().__init__(message)


# --- XML documents and business-object models (caruso.xml, caruso.bom) -------


class DocumentError(_ProblemsError):
    """An XML file (model, script, view) is malformed, unsafe or breaks its DTD.

    ``problems`` locate each fault as file:line and name the element.
    """


class ModelError(_ProblemsError):
    """Business-object models are wrong: an unknown object or attribute, two
    objects on one table, a behaviour class that does not import. ``problems``
    holds every one found, each located as file:line."""


class Violation:
    """One value a save refused: which object, which attribute, what value, why."""

    __slots__ = ("object_name", "attribute", "value", "message")

    def __init__(self, object_name: str, attribute: str, value: object, message: str):
        self.object_name = object_name
        self.attribute = attribute
        self.value = value
        self.message = message

    def __str__(self) -> str:
        return f"{self.object_name}.{self.attribute} = {self.value!r}: {self.message}"

    def __repr__(self) -> str:
        return f"Violation({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Violation):
            return NotImplemented
        return (self.object_name, self.attribute, self.value, self.message) == (
            other.object_name, other.attribute, other.value, other.message)


class ValidationError(ModelError):
    """A save broke a rule or a type of the model; nothing was written.

    ``violations`` lists every refused value (object, attribute, value, why),
    not only the first, so a form can mark all wrong fields at once.
    """

    exit_code = 1

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        CarusoError.__init__(self, "not saved: " + "; ".join(str(v) for v in self.violations))
        self.problems = [Problem(None, None, str(v)) for v in self.violations]


# --- dialogue scripts (caruso.services.scripts) -------------------------------


class ScriptError(CarusoError):
    """Root of the dialogue-script engine's errors (reader, checker, interpreter, expressions)."""


class ExpressionError(ScriptError):
    """An expression or template of a script does not parse or failed to evaluate.

    ``where`` is the script location (a ``Where``, printed as file:line; None
    when the text did not come from a file) and ``source`` the expression text,
    so the author can find and fix the line.
    """

    def __init__(self, message: str, *, source: str = "", where: object = None):
        self.source = source
        self.where = where
        self.reason = message
        location = f"{where}: " if where is not None and str(where) else ""
        shown = source if len(source) <= 200 else source[:200] + "..."
        suffix = f" (in {shown!r})" if source else ""
        super().__init__(f"{location}{message}{suffix}")


class SandboxViolation(ExpressionError):
    """An expression reached for something scripts may not use: an attribute
    outside the allowed set, a method call, an unknown filter or global."""


class ExpressionLimitExceeded(ExpressionError):
    """An expression would make too large a number, string or range, or ran
    past its time budget; it was stopped before the work was done."""


# --- the dialogue interpreter (caruso.services.scripts.interpreter) -----------


class ScriptLoopError(ScriptError):
    """A session passed more steps than allowed without asking anything: the script
    loops through skipped questions, mode-skipped steps or transitions alone.

    ``steps`` lists the step ids passed, in order (the loop is at the end).
    """

    def __init__(self, message: str, *, script: str, steps: tuple[str, ...] = ()):
        self.script = script
        self.steps = steps
        super().__init__(message)


class ActionFailed(ScriptError):
    """An action of a script failed and the script declares no ``on-error`` step for it.

    The session is stopped (status ``failed``) and says what was done before:
    ``done`` lists the actions that completed in the same move, ``not_run``
    the ones skipped because of the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str,
        step: str,
        where: object = None,
        done: tuple[str, ...] = (),
        not_run: tuple[str, ...] = (),
    ):
        self.action = action
        self.step = step
        self.where = where
        self.done = done
        self.not_run = not_run
        super().__init__(message)


class SessionNotFound(ScriptError, LookupError):
    """No dialogue session is stored under that id (mistyped, or from another database)."""

    def __init__(self, session_id: str):
        self.session_id = session_id
        super().__init__(f"no dialogue session {session_id!r}; start one with scripts.start_session(...)")


class ScriptDefinitionError(_ProblemsError, ScriptError):
    """Dialogue-script files are wrong: malformed, against ``dialogue.dtd``, or
    meaningless (a step nobody reaches, a condition that does not parse, an
    unknown action). ``problems`` holds every one found, each as file:line;
    ``caruso script check`` prints the same list."""

    exit_code = 1


# --- the communication server (caruso.services.communication) ----------------


class CommunicationError(CarusoError):
    """Root of the communication server's errors (queues, agents, routing, the event log)."""


class RequirementError(CommunicationError):
    """A skill-requirement expression (``skills HAS 'billing' AND level >= 5``) does not parse.

    ``source`` is the expression, ``column`` the 1-based position of the fault
    (None when the fault is not at one place), ``where`` the descriptor key it came from.
    """

    def __init__(self, message: str, *, source: str = "", column: int | None = None, where: str = ""):
        self.source = source
        self.column = column
        self.where = where
        self.reason = message
        text = f"{where}: " if where else ""
        text += message
        if source:
            text += f" in {source!r}"
            if column is not None:
                text += f" at column {column}\n    {source}\n    {' ' * (column - 1)}^"
        super().__init__(text)


class UnknownName(CommunicationError, LookupError):
    """No queue, agent, skill, channel, campaign or routing strategy has that name."""

    def __init__(self, kind: str, name: str, known: Iterable[str] = ()):
        self.kind = kind
        self.name = name
        known = sorted(known)
        hint = did_you_mean(name, known)
        if not hint:
            hint = f"; known: {', '.join(known)}" if known else f"; no {kind} is configured"
        super().__init__(f"no {kind} {name!r}{hint}")


class InteractionStateError(CommunicationError):
    """The operation does not fit the state of the interaction or agent (accepting an
    offer that was taken back, completing an interaction twice with different codes)."""


class EventLogUnavailable(CommunicationError):
    """The event log could not be written for too long: its buffer is full, so the
    communication server refuses new interactions rather than accept what it could lose.

    ``buffered`` counts the events held in memory, waiting for the database.
    """

    def __init__(self, message: str, *, buffered: int = 0):
        self.buffered = buffered
        super().__init__(message)


# --- the channels (caruso.services.channels) ------------------------------------


class ChannelError(CommunicationError):
    """Root of the e-mail, chat and SMS channels' errors."""


class MessageRefused(ChannelError):
    """A message was refused before anything of it was kept: too large, too many
    attachments, or too many from one sender (a flood).

    ``code`` is what the protocol tells the sender (``552`` for SMTP size, ``451`` for a
    flood, ``413`` / ``429`` over HTTP); ``limit`` names the setting that refused it.
    """

    def __init__(self, message: str, *, code: int, limit: str):
        self.code = code
        self.limit = limit
        super().__init__(message)


class SignatureInvalid(ChannelError):
    """A webhook request's HMAC signature is missing, malformed, wrong or too old:
    the request is refused (HTTP 403) and nothing of it is stored."""


class DeliveryFailed(ChannelError):
    """The SMTP relay or the SMS gateway refused a message or could not be reached.

    The message stays in its outbox and is tried again later; ``permanent`` is True when
    the other side said it will never accept it (an SMTP 5xx, an HTTP 4xx).
    """

    def __init__(self, message: str, *, permanent: bool = False):
        self.permanent = permanent
        super().__init__(message)


# --- monitoring and reporting (caruso.services.reporting) ---------------------


class ReportingError(CarusoError):
    """Root of the errors of the live monitor, the reports and the KPI alerts."""


class ReportDefinitionError(_ProblemsError, ReportingError):
    """Report definition files are wrong: malformed, against ``reports.dtd``, or naming a
    source, measure, dimension or parameter that does not exist (with a did-you-mean).
    ``problems`` holds every one found, each as file:line naming the element."""

    exit_code = 1


class ReportRequestError(ReportingError):
    """A report cannot be made as asked: an unknown report or interval, a period that ends
    before it starts, or more intervals than the configured limit (a year by 15 minutes)."""

    exit_code = 2


# --- business rules (the first-party rules plugin, plugins/caruso_rules) -----------


class RuleDefinitionError(_ProblemsError):
    """Rule files of the rules plugin are wrong: malformed, against ``rules.dtd``, or naming
    an unknown event, object, attribute or action. ``problems`` holds every one, each as
    file:line; ``caruso check`` prints the same list."""

    exit_code = 1


# --- the web front office (caruso.web) ---------------------------------------------


class ViewDefinitionError(_ProblemsError):
    """View files of the front office are wrong: malformed, against ``views.dtd``, or naming an
    unknown object, attribute, collection or view. ``problems`` holds every one, each as
    file:line; ``caruso check`` prints the same list."""

    exit_code = 1


class TemplateError(CarusoError):
    """``caruso new`` or ``caruso demo`` cannot make an application from a template: no such
    template, the target folder exists (nothing is overwritten), the templates are not installed."""

    exit_code = 1


class WebError(CarusoError):
    """The web front office could not do what was asked: a user name taken, a password too
    short, a port in use. Refused requests are answered with their HTTP status instead."""

    exit_code = 1


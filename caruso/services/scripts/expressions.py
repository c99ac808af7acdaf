"""Conditions, values and prompt templates of dialogue scripts: compiled once, evaluated safely.

A script's expressions are jinja2 expressions (``answers.meter > 0 and
customer.segment == "business"``) and its prompts jinja2 templates
(``Good morning {{ customer.name }}``). Script files may come from elsewhere,
so nothing in them may reach Python internals, files or the network, and no
expression may eat the server's memory or time: the sandbox
(``_sandbox.py``) allows only what is listed and bounds every operation that
could grow. What is allowed, and the limits, are in docs/script-expressions.md.

The interpreter compiles each expression when a script loads and calls the
result for every step, so compiling is cached by source and an evaluation
costs a few microseconds on top of the expression's own work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Undefined

from caruso.errors import ExpressionError, ExpressionLimitExceeded, SandboxViolation
from caruso.services.scripts._sandbox import (
    Denied,
    Function,
    Limits,
    ScriptContext,
    ScriptEnvironment,
    ScriptObject,
    TooMuch,
    check_tree,
    guard_tree,
    monotonic,
    script_value,
)
from caruso.services.scripts.model import Expr, Where

__all__ = [
    "CONDITION",
    "TEMPLATE",
    "VALUE",
    "ExpressionEngine",
    "Limits",
    "ScriptObject",
    "script_value",
]

CONDITION, VALUE, TEMPLATE = "condition", "value", "template"
"""The kinds of source text: a condition (true or false), a value (any result), a prompt template."""

Namespace = Mapping[str, Any]
"""What an expression sees: answers, variables, context, bound business objects, now."""

_ROOT = Callable[[Any], Any]


@attrs.frozen
class _Compiled:
    """A compiled source: jinja2's render function, or why it does not compile."""

    render: _ROOT | None
    error: type[ExpressionError] = ExpressionError
    reason: str = ""


class ExpressionEngine:
    """Compiles script expressions and templates into callables over a namespace.

    One engine per script service is enough: it is thread-safe, and its cache
    makes a script reload cheap. ``limits`` bounds what any evaluation may do
    (see ``Limits``); the defaults suit dialogue scripts.

    Every callable it returns raises only ``ExpressionError`` (or its
    subclasses ``SandboxViolation`` and ``ExpressionLimitExceeded``), located
    at the ``Where`` it was compiled for.
    """

    def __init__(self, limits: Limits | None = None, *, cache_size: int = 10_000):
        self.limits = limits or Limits()
        self._environment = ScriptEnvironment(self.limits)
        self._cache: dict[tuple[str, str], _Compiled] = {}
        self._cache_size = cache_size

    # --- what scripts can use, for the checker and the docs ---------------------------

    @property
    def functions(self) -> frozenset[str]:
        """The names of the functions expressions may call (``range``, ``days_between``...)."""
        return frozenset(self._environment.globals)

    @property
    def filters(self) -> frozenset[str]:
        """The names of the filters expressions may use (``length``, ``upper``...)."""
        return self._environment.public_filters

    @property
    def tests(self) -> frozenset[str]:
        """The names of the tests expressions may use (``is defined``, ``is number``...)."""
        return frozenset(self._environment.tests)

    # --- compiling ---------------------------------------------------------------------

    def compile_condition(self, expr: Expr) -> Callable[[Namespace], bool]:
        """A callable giving the truth of ``expr`` in a namespace; an undefined name is false.

        Raises:
            ExpressionError: ``expr`` does not parse (SandboxViolation: it uses
                something scripts may not; ExpressionLimitExceeded: too long or too deep).
        """
        return self._evaluator(expr.source, CONDITION, expr.where)

    def compile_value(self, expr: Expr) -> Callable[[Namespace], Any]:
        """A callable giving the value of ``expr`` in a namespace (None when undefined).

        Raises:
            ExpressionError: as ``compile_condition``.
        """
        return self._evaluator(expr.source, VALUE, expr.where)

    def compile_template(self, source: str, where: Where | None) -> Callable[[Namespace], str]:
        """A callable rendering the prompt template ``source`` in a namespace.

        ``{{ ... }}`` shows a value (None and undefined values show as ""); the
        text is plain, not HTML-escaped: a web page escapes it when it shows it.

        Raises:
            ExpressionError: as ``compile_condition``.
        """
        return self._evaluator(source, TEMPLATE, where)

    def syntax_error(self, source: str, kind: str) -> str | None:
        """Why ``source`` does not compile as a ``kind`` ("condition", "value", "template"), or None.

        For the script checker: the reason without location, which the checker adds.
        """
        _check_arguments(source, kind)
        compiled = self._cache.get((kind, source))
        if compiled is None:
            checked = self._checked_tree(source, kind)
            return checked.reason if isinstance(checked, _Compiled) else None
        return None if compiled.render is not None else compiled.reason

    def attributes_read(self, source: str, kind: str, names: Iterable[str]) -> list[tuple[str, str]]:
        """The ``(name, attribute)`` pairs ``source`` reads as ``name.attribute`` or
        ``name['attribute']`` for each of ``names``, in order; empty when it does not parse.

        For checkers that know which attributes a bound object has (a rule's ``object``).
        """
        _check_arguments(source, kind)
        checked = self._checked_tree(source, kind)
        if isinstance(checked, _Compiled):
            return []
        wanted = set(names)
        found: list[tuple[str, str]] = []
        for node in checked.find_all((nodes.Getattr, nodes.Getitem)):
            target = node.node
            if not isinstance(target, nodes.Name) or target.name not in wanted:
                continue
            if isinstance(node, nodes.Getattr):
                found.append((target.name, node.attr))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((target.name, node.arg.value))
        return found

    # --- internals -----------------------------------------------------------------------

    def _compiled(self, source: str, kind: str) -> _Compiled:
        _check_arguments(source, kind)
        key = (kind, source)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._compile(source, kind)
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache), None), None)  # the oldest entry
            self._cache[key] = compiled
        return compiled

    def _compile(self, source: str, kind: str) -> _Compiled:
        checked = self._checked_tree(source, kind)
        if isinstance(checked, _Compiled):
            return checked
        environment = self._environment
        try:
            tree = guard_tree(checked)
            tree.set_environment(environment)
            code = environment.compile(tree, filename="<script>")
            template = environment.template_class.from_code(environment, code, environment.globals)
        except (RecursionError, MemoryError):
            return _Compiled(None, ExpressionLimitExceeded, "the expression is nested too deeply")
        except Exception as exc:  # anything else Python's compiler refuses
            return _Compiled(None, ExpressionError, f"does not compile: {type(exc).__name__}: {exc}")
        return _Compiled(template.root_render_func)

    def _checked_tree(self, source: str, kind: str) -> nodes.Node | _Compiled:
        """Parse and vet ``source`` without generating code: the tree, or why it is refused.

        ``syntax_error`` stops here, which keeps ``caruso script check`` fast on big scripts
        (code generation is most of the cost of compiling).
        """
        environment = self._environment
        if len(source) > self.limits.max_source:
            return _Compiled(None, ExpressionLimitExceeded,
                             f"the text is {len(source)} characters long; at most {self.limits.max_source} are allowed")
        if kind != TEMPLATE and not source.strip():
            return _Compiled(None, ExpressionError, f"the {kind} is empty; write an expression, e.g. answers.meter > 0")
        try:
            if kind == TEMPLATE:
                tree = Parser(environment, source).parse()
            else:
                tree = _expression_tree(environment, source)
            check_tree(tree, environment)
        except TemplateSyntaxError as exc:
            return _Compiled(None, ExpressionError, _syntax_message(exc, source))
        except Denied as exc:
            return _Compiled(None, SandboxViolation, str(exc))
        except TooMuch as exc:
            return _Compiled(None, ExpressionLimitExceeded, str(exc))
        except (RecursionError, MemoryError):
            return _Compiled(None, ExpressionLimitExceeded, "the expression is nested too deeply")
        except Exception as exc:  # anything else the parser refuses
            return _Compiled(None, ExpressionError, f"does not compile: {type(exc).__name__}: {exc}")
        return tree

    def _evaluator(self, source: str, kind: str, where: Where | None) -> Callable[[Namespace], Any]:
        compiled = self._compiled(source, kind)
        if compiled.render is None:
            raise compiled.error(compiled.reason, source=source, where=where)
        render = compiled.render
        environment = self._environment
        seconds = self.limits.seconds
        template, truth = kind == TEMPLATE, kind == CONDITION

        # This runs for every condition of every step: keep it lean (see the module doc).
        def evaluate(namespace: Namespace) -> Any:
            context = ScriptContext(environment, namespace, monotonic() + seconds)
            try:
                if template:
                    return "".join(render(context))
                for _ in render(context):
                    pass
                result = context.vars["result"]
                if truth:
                    return bool(result)
                if isinstance(result, Undefined):
                    return None
                if type(result) is Function:
                    raise Denied(f"{result.name} is a function: call it, e.g. {result.name}(...)")
                if isinstance(result, (dict, list, tuple)):
                    return _defined(result)
                return result
            except Denied as exc:
                raise SandboxViolation(str(exc), source=source, where=where) from None
            except TooMuch as exc:
                raise ExpressionLimitExceeded(str(exc), source=source, where=where) from None
            except (RecursionError, MemoryError) as exc:
                raise ExpressionLimitExceeded(f"ran out of room: {type(exc).__name__}",
                                              source=source, where=where) from exc
            except ExpressionError:
                raise
            except Exception as exc:  # the expression's own fault: 1/0, "a" + 1, x.y of undefined x
                raise ExpressionError(_runtime_message(exc), source=source, where=where) from exc

        return evaluate


def _defined(value: Any) -> Any:
    """``value`` with every undefined name inside it as None: ``{'customer': context.customer_id}``
    gives ``{'customer': None}`` when the session has no customer, as the name alone would."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, dict):
        return {key: _defined(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_defined(item) for item in value)
    return value


def _check_arguments(source: str, kind: str) -> None:
    """Programmer mistakes, not script errors: plain TypeError / ValueError."""
    if kind not in (CONDITION, VALUE, TEMPLATE):
        raise ValueError(f"kind must be {CONDITION!r}, {VALUE!r} or {TEMPLATE!r}, not {kind!r}")
    if not isinstance(source, str):
        raise TypeError(f"expression source must be a str, not {type(source).__name__}")


def _expression_tree(environment: ScriptEnvironment, source: str) -> nodes.Template:
    """An expression as a one-statement template assigning ``result`` (as jinja2's compile_expression)."""
    parser = Parser(environment, source, state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
    return nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)], lineno=1)


def _syntax_message(exc: TemplateSyntaxError, source: str) -> str:
    where = f" (line {exc.lineno} of the text)" if "\n" in source.strip() and exc.lineno else ""
    return f"does not parse: {exc.message}{where}"


def _runtime_message(exc: Exception) -> str:
    if isinstance(exc, UndefinedError):
        return f"{exc.message}; check the name, or test it first with 'is defined'"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, (TypeError, ValueError, ArithmeticError, LookupError)):
        return f"cannot evaluate: {exc}"
    return f"cannot evaluate: {type(exc).__name__}: {exc}"

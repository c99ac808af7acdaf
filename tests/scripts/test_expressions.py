"""The expression engine: what scripts can compute, what they can never reach, and the limits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caruso.errors import ExpressionError, ExpressionLimitExceeded, SandboxViolation, ScriptError
from caruso.services.scripts.expressions import ExpressionEngine, Limits, ScriptObject, script_value
from caruso.services.scripts.model import Expr, Where

WHERE = Where("scripts/meter.xml", 12)
ENGINE = ExpressionEngine()


def namespace() -> dict:
    return {
        "answers": {"meter": 4711, "name": " Ada ", "moving": "yes"},
        "variables": {},
        "context": {"channel": "web", "queue": "billing"},
        "customer": ScriptObject("Customer", {"name": "Ada", "segment": "retail", "balance": Decimal("12.50"),
                                              "since": date(2020, 1, 1)}),
        "contracts": (ScriptObject("Contract", {"number": "C-1", "end": date(2026, 3, 1)}),
                      ScriptObject("Contract", {"number": "C-2", "end": date(2027, 1, 1)})),
        "now": datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        "key": "__class__",
    }


def value(source: str, names: dict | None = None, engine: ExpressionEngine = ENGINE):
    return engine.compile_value(Expr(source, WHERE))(namespace() if names is None else names)


def condition(source: str, names: dict | None = None):
    return ENGINE.compile_condition(Expr(source, WHERE))(namespace() if names is None else names)


def render(source: str, names: dict | None = None, engine: ExpressionEngine = ENGINE):
    return engine.compile_template(source, WHERE)(namespace() if names is None else names)


# --- what scripts can do ----------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("answers.meter > 1000", True),
    ("answers.meter > 1000 and customer.segment == 'business'", False),
    ("answers.moving == 'yes' or answers.missing", True),
    ("answers.missing", False),
    ("answers.missing is defined", False),
    ("context.channel in ('web', 'ivr')", True),
    ("contracts|length == 2", True),
    ("days_between(now, contracts[0].end) < 60", True),
    ("answers.name.strip().lower().startswith('ad')", True),
])
def test_conditions(source, expected):
    """Conditions read answers, context and business objects; an unanswered question is false."""
    assert expected == condition(source)


@pytest.mark.parametrize(("source", "expected"), [
    ("answers.meter + 1", 4712),
    ("customer.balance * 2", Decimal("25.00")),
    ("customer['name'] ~ '!'", "Ada!"),
    ("contracts|join(', ', attribute='number')", "C-1, C-2"),
    ("answers.get('missing', 'n/a')", "n/a"),
    ("answers.missing", None),
    ("add_days(to_date('2026-01-30'), 3)", date(2026, 2, 2)),
    ("days_between('2026-01-01', now)", 4),
    ("customer.since|date('%d-%m-%Y')", "01-01-2020"),
    ("now.year * 100 + now.month", 202601),
    ("range(3)|list", [0, 1, 2]),
    ("[1, 2] + [3]", [1, 2, 3]),
    ("'x' ~ none", "x"),
    ("'5'|int + 1", 6),
    ("answers.meter / 2", 2355.5),
])
def test_values(source, expected):
    """Values compute what actions receive; undefined gives None."""
    assert expected == value(source)


def test_templates_show_data():
    """A prompt template shows customer data; None and undefined show as nothing, not "None"."""
    source = ("Good morning {{ customer.name }}, {% for c in contracts %}{{ loop.index }}. {{ c.number }} "
              "{% endfor %}[{{ answers.missing }}|{{ none }}]")
    assert "Good morning Ada, 1. C-1 2. C-2 [|]" == render(source)


def test_template_set_changes_nothing_outside():
    """``{% set %}`` in a template is local: the namespace the engine passed in is unchanged."""
    names = namespace()
    render("{% set answers = 1 %}{% set customer = 2 %}{{ answers }}", names)
    assert (4711, "Ada") == (names["answers"]["meter"], names["customer"]["name"])


def test_names_of_what_scripts_can_use():
    """The engine lists its functions and filters; the dangerous jinja2 ones are not among them."""
    assert {"range", "days_between", "add_days", "to_date"} == set(ENGINE.functions)
    assert {"length", "lower", "upper", "round", "default", "join", "int", "float", "string", "date"} <= ENGINE.filters
    assert set() == {"attr", "format", "map", "select", "center", "indent", "batch", "tojson", "pprint"} & ENGINE.filters


# --- ScriptObject -----------------------------------------------------------------------


class _OrmLike:
    """Stands in for a mapped business object with ORM machinery behind it."""

    registry = "the ORM registry"
    metadata = "the table metadata"

    def __init__(self):
        self.name = "Ada"
        self.email = "ada@example.com"

    def save(self):
        raise AssertionError("expressions must never call this")


def test_script_object_wraps_only_the_named_fields():
    """wrap() snapshots the listed attributes; the ORM object behind stays unreachable."""
    customer = ScriptObject.wrap(_OrmLike(), ["name", "email"], kind="Customer")
    names = {"customer": customer}
    assert ("Customer", {"name": "Ada", "email": "ada@example.com"}) == (customer.kind, dict(customer.fields))
    assert "Ada <ada@example.com>" == value("customer.name ~ ' <' ~ customer.email ~ '>'", names)
    for reach in ("customer.registry", "customer.metadata", "customer.save()", "customer.fields", "customer.wrap"):
        with pytest.raises(SandboxViolation):
            value(reach, names)


def test_script_object_suggests_the_field_meant():
    """A misspelt field is refused with the fields there are and the closest one."""
    with pytest.raises(SandboxViolation) as caught:
        value("customer.segmnet")
    assert "Customer has no field 'segmnet' (did you mean 'segment'?)" in str(caught.value)


def test_script_object_is_read_only():
    """Python code cannot change a ScriptObject either."""
    customer = ScriptObject("Customer", {"name": "Ada"})
    with pytest.raises(AttributeError):
        customer.name = "Eve"
    assert ("Ada", True, ["name"]) == (customer["name"], "name" in customer, list(customer))


def test_script_value_refuses_objects_with_behaviour():
    """Only plain data goes into a namespace: an ORM object is a programmer's mistake (TypeError)."""
    assert {"a": (1, "x"), "b": None} == script_value({"a": [1, "x"], "b": None})
    with pytest.raises(TypeError):
        ScriptObject("Customer", {"owner": _OrmLike()})


# --- escapes refused -------------------------------------------------------------------

ESCAPES = [
    "''.__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "cycler.__init__.__globals__.os",
    "lipsum.__globals__['os'].popen('id').read()",
    "namespace.__init__",
    "joiner.__init__.__globals__",
    "'{0.__class__}'.format(answers)",
    "'{0.__class__}'|format(answers)",
    "answers|format",
    "answers|attr('__class__')",
    "answers|attr('__class__')|attr('__base__')",
    "request.application.__globals__.__builtins__",
    "config.__class__.__init__.__globals__",
    "answers.__class__",
    "answers['__class__']",
    "answers['\\x5f\\x5fclass\\x5f\\x5f']",
    "'abc'[key]",
    "customer[key]",
    "customer.__class__",
    "answers.get.__self__",
    "days_between.function",
    "days_between.__globals__",
    "range.__call__",
    "answers.items().mapping",
    "answers.name.format(1)",
    "answers.name.zfill(10)",
    "'%s %s' % (1, 2)",
    "[].append(1)",
    "now.replace(year=1)",
    "now.tzinfo",
    "self",
    "answers.get",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_published_escapes_are_refused_in_expressions(source):
    """The published jinja2 sandbox escapes, and relatives, fail with an ExpressionError."""
    with pytest.raises(ExpressionError) as caught:
        value(source)
    assert (WHERE, source) == (caught.value.where, caught.value.source)


TEMPLATE_ESCAPES = [
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "{% for x in [1] %}{{ loop.cycle('a') }}{% endfor %}",
    "{% for x in [1] %}{{ loop['_LoopContext__length'] }}{% endfor %}",
    "{% for x in [1, 2] recursive %}{{ loop([3]) }}{% endfor %}",
    "{% set ns = namespace(a=1) %}{% set ns.a = 2 %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}",
    "{% call m() %}x{% endcall %}",
    "{% extends 'base.html' %}",
    "{% include '/etc/passwd' %}",
    "{% import 'x' as y %}",
    "{% from 'x' import y %}",
    "{% filter upper %}x{% endfilter %}",
    "{% set x %}captured{% endset %}",
    "{% autoescape false %}x{% endautoescape %}",
    "{% block b %}x{% endblock %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
]


@pytest.mark.parametrize("source", TEMPLATE_ESCAPES)
def test_published_escapes_are_refused_in_templates(source):
    """In prompt templates too: no internals, no other templates, no captured output."""
    with pytest.raises(ExpressionError):
        render(source)


def test_unknown_globals_are_merely_undefined():
    """jinja2's and Flask's globals (range aside) do not exist: using one is an error, naming it is nothing."""
    assert (None, None, None) == (value("request"), value("config"), value("lipsum"))
    with pytest.raises(ExpressionError, match="'cycler' is undefined"):
        value("cycler(1, 2)")


def test_an_undefined_name_inside_a_dict_or_list_is_none_as_it_is_alone():
    """``{'customer': context.customer_id}`` without a customer gives None inside, not jinja2's Undefined."""
    assert ({"customer": None, "nested": [None, 1]}, (None,)) == (
        value("{'customer': context.customer_id, 'nested': [nothing, 1]}", {"context": {}}), value("(nothing,)"))


def test_the_namespace_cannot_be_changed():
    """Mappings in the namespace are read-only to expressions."""
    names = namespace()
    with pytest.raises(ExpressionError):
        value("answers.update({'meter': 0})", names)
    assert 4711 == names["answers"]["meter"]


# --- limits -----------------------------------------------------------------------------

BOMBS = [
    "10**100000",
    "2**1000000000",
    "9**9**9",
    "customer.balance ** 100000",
    "(2**99) * (2**99)",
    "1e308 * 10",
    "'1e400'|float",
    "1000000000000000000000000000000000000",
    "'a' * 100000000",
    "'ab' * 40000",
    "('a' * 60000) + ('b' * 60000)",
    "('a' * 60000) ~ ('b' * 60000)",
    "[1] * 100000000",
    "[answers.name] * 20000",
    "(range(6000)|list) + (range(6000)|list)",
    "range(10**9)",
    "range(10**30)",
    "range(10**9)|list",
    "'ab'|replace('', 'x' * 40000)",
    "'ab'.replace('', 'x' * 40000)",
    "['x' * 60000, 'y' * 60000]|join",
    "x" * 70000,
    "(" * 100 + "1" + ")" * 100,
]


@pytest.mark.parametrize("source", BOMBS, ids=lambda source: source[:40])
def test_memory_bombs_are_refused_before_they_are_built(source):
    """Numbers, strings, lists and ranges past the limits are refused with ExpressionLimitExceeded."""
    with pytest.raises(ExpressionLimitExceeded):
        value(source)


TEMPLATE_BOMBS = [
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
    "{% set s = 'x' * 60000 %}{{ s }}{{ s }}",
    "{% set x = [1, 1] %}" + "{% set x = [x, x] %}" * 60 + "{{ x }}",
    "{% set s = 'x' %}" + "{% set s = s ~ s %}" * 40,
]


@pytest.mark.parametrize("source", TEMPLATE_BOMBS, ids=lambda source: source[:40])
def test_template_bombs_are_refused(source):
    """Loops, repeated output and self-doubling values stop at a limit, not at the end of memory."""
    with pytest.raises(ExpressionLimitExceeded):
        render(source)


def test_the_deadline_stops_a_long_evaluation():
    """With iterations unbounded, the per-evaluation deadline stops a 10**8-step loop."""
    engine = ExpressionEngine(Limits(seconds=1e-6, max_iterations=10**12))
    with pytest.raises(ExpressionLimitExceeded, match="took longer than the time allowed"):
        render("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", engine=engine)


def test_limits_can_be_set_per_engine():
    """An engine with smaller limits refuses what the default one allows."""
    small = ExpressionEngine(Limits(max_string=10, max_number=1000, max_items=3))
    assert "xxxxxxxxxxxx" == value("'x' * 12")
    for source in ("'x' * 12", "999 + 2", "range(4)"):
        with pytest.raises(ExpressionLimitExceeded):
            value(source, engine=small)


# --- errors -----------------------------------------------------------------------------


def test_errors_name_the_place_and_the_source():
    """Every error is an ExpressionError under ScriptError, printed as file:line: reason (in 'source')."""
    with pytest.raises(ExpressionError) as caught:
        value("answers.meter / 0")
    error = caught.value
    assert isinstance(error, ScriptError)
    assert "scripts/meter.xml:12: division by zero (in 'answers.meter / 0')" == str(error)


def test_syntax_errors_are_found_when_compiling():
    """A condition that does not parse fails when the script loads, not when a customer gets there."""
    with pytest.raises(ExpressionError, match="does not parse") as caught:
        ENGINE.compile_condition(Expr("answers.meter >", WHERE))
    assert not isinstance(caught.value, (SandboxViolation, ExpressionLimitExceeded))


@pytest.mark.parametrize(("source", "kind", "expected"), [
    ("answers.meter > 0", "condition", None),
    ("Hello {{ customer.name }}", "template", None),
    ("answers.meter >", "condition", "does not parse: unexpected 'end of template'"),
    ("a b", "value", "does not parse: unexpected 'b' after the expression"),
    ("", "condition", "the condition is empty; write an expression, e.g. answers.meter > 0"),
    ("{% if a %}\nx\n{% endif", "template",
     "does not parse: unexpected end of template, expected 'end of statement block'. (line 3 of the text)"),
    ("answers.name|uper", "value", "there is no filter 'uper' in scripts (did you mean 'upper'?)"),
    ("answers|attr('x')", "value",
     "there is no filter 'attr' in scripts; available: abs, capitalize, count, d, date, default, first, float,"
     " int, join, last, length, list, lower, max, min, replace, reverse, round, sort, string, sum, title, trim,"
     " truncate, unique, upper, wordcount"),
    ("x.__class__", "condition", "the attribute '__class__' is not available: names starting with _ are never allowed"),
    ("{% include 'x' %}", "template", "{% include %} is not available in scripts"),
])
def test_syntax_error_for_the_checker(source, kind, expected):
    """syntax_error() gives the checker the reason, without location, or None when fine."""
    assert expected == ENGINE.syntax_error(source, kind)


def test_evaluations_on_many_threads_keep_their_own_budget():
    """One engine serves many threads: each evaluation counts its own loop iterations."""
    engine = ExpressionEngine(Limits(seconds=600))  # threads wait for each other: no deadline here
    loops = "{% for i in range(10000) %}{% endfor %}" * 4  # 40,000 iterations of the 100,000 allowed
    render_loop = engine.compile_template(loops + "{{ n }}", WHERE)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: render_loop({"n": n}), range(8)))
    assert [str(n) for n in range(8)] == results


# --- anything at all --------------------------------------------------------------------

TOKENS = [
    "answers", "customer", "contracts", "now", "x", ".", "[", "]", "(", ")", "{", "}", ",", ":", "|",
    "~", "+", "-", "*", "**", "/", "//", "%", "==", "<", "and", "or", "not", "in", "is", "if", "else",
    "1", "0", "10", "99999", "1.5", "'a'", "''", "none", "true", "__class__", "_x", "meter", "name",
    "length", "join", "upper", "replace", "range", "days_between", "defined", "{{", "}}", "{%", "%}",
    "for", "endfor", "set", "=", "loop", "index", "self", "format", "attr", "lipsum", "get", "items",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join)),
       st.sampled_from(["condition", "value", "template"]))
def test_any_text_raises_nothing_but_expression_errors(source, kind):
    """Whatever the text, compiling and evaluating it returns or raises an ExpressionError."""
    expr = Expr(source, WHERE)
    try:
        if kind == "condition":
            ENGINE.compile_condition(expr)(namespace())
        elif kind == "value":
            ENGINE.compile_value(expr)(namespace())
        else:
            ENGINE.compile_template(source, WHERE)(namespace())
    except ExpressionError:
        pass
    reason = ENGINE.syntax_error(source, kind)
    assert reason is None or isinstance(reason, str)



def test_literal_text_repeated_by_a_loop_counts_toward_the_output_limit():
    """A long literal inside a loop is output too: refused at the limit, not rendered for ever."""
    render = ExpressionEngine().compile_template("{% for i in range(10000) %}" + "y" * 1000 + "{% endfor %}",
                                                 Where("t.xml", 1))
    with pytest.raises(ExpressionLimitExceeded, match="characters allowed"):
        render({})


def test_join_knows_the_size_of_its_result_before_building_it():
    """join with a long separator is refused before the string is built (memory stays small)."""
    evaluate = ExpressionEngine().compile_value(Expr('range(10000)|join("x" * 5000)', Where("t.xml", 1)))
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionLimitExceeded):
            evaluate({})
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20


def test_round_refuses_a_precision_that_would_take_for_ever():
    """round(3000000, 'floor') would compute 10**3000000: refused instead."""
    evaluate = ExpressionEngine().compile_value(Expr("1.5|round(3000000, 'floor')", Where("t.xml", 1)))
    with pytest.raises(ExpressionError, match="round takes a precision from 0 to 30"):
        evaluate({})
    assert 1.23 == ExpressionEngine().compile_value(Expr("1.2345|round(2, 'floor')", Where("t.xml", 1)))({})



def test_join_refuses_a_result_over_the_string_limit():
    """A join of few items with a long separator is measured before it is built."""
    evaluate = ExpressionEngine().compile_value(Expr('range(20)|join("x" * 5000)', Where("t.xml", 1)))
    with pytest.raises(ExpressionLimitExceeded, match="join makes more than the 65536 characters allowed"):
        evaluate({})

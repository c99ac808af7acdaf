"""Skill requirements: what the language means, what it refers to, and how it refuses bad text."""

from __future__ import annotations

from decimal import Decimal

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caruso.errors import CommunicationError, RequirementError
from caruso.services.communication import requirements
from caruso.services.communication.requirements import Requirement, parse_requirement

ADA = {
    "name": "ada",
    "skills": {"billing": 6, "general": 1, "first-line": 2, "retired": 0},
    "languages": frozenset({"nl", "en"}),
    "level": 5,
    "rating": 4.5,
    "team": "north",
    "site": "office",
    "vip": True,
    "tags": ["night", "senior"],
    "desk": {"floor": 3, "city": "Ghent"},
}


def matches(text: str, profile: dict | None = None) -> bool:
    return parse_requirement(text).matches(ADA if profile is None else profile)


def refusal(text: str) -> tuple[str, int | None]:
    with pytest.raises(RequirementError) as caught:
        parse_requirement(text)
    return caught.value.reason, caught.value.column


# --- the examples of the brief --------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("skills HAS 'billing' AND level >= 5 AND 'nl' IN languages", True),
    ("skills.billing >= 5 OR (skills HAS 'general' AND NOT team == 'trainees')", True),
    ("languages HAS 'en'", True),
    ("team IN ['north', 'south']", True),
    ("site != 'home'", True),
    ("1 == 1", True),
])
def test_documented_examples(text, expected):
    """Every example of the module docstring matches Ada as it says."""
    assert expected == matches(text)


# --- operators ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("level == 5", True), ("level == 6", False),
    ("level != 6", True), ("level != 5", False),
    ("level < 6", True), ("level < 5", False),
    ("level <= 5", True), ("level <= 4", False),
    ("level > 4", True), ("level > 5", False),
    ("level >= 5", True), ("level >= 6", False),
    ("rating > 4.25", True), ("rating == 4.5", True), ("level == 5.0", True),
    ("level > -1", True),
    ("team == 'north'", True), ("team == \"north\"", True), ("team < 'south'", True),
    ("vip == true", True), ("vip != false", True), ("vip == false", False),
])
def test_comparisons(text, expected):
    """== != < <= > >= compare an attribute with numbers, texts and booleans."""
    assert expected == matches(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("5 == level", True), ("6 > level", True), ("5 >= level", True), ("4 < level", True),
    ("6 <= level", False), ("'north' == team", True),
])
def test_comparison_with_the_value_on_the_left(text, expected):
    """A value may stand on the left: 6 > level is level < 6."""
    assert expected == matches(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("1 == 1", True), ("1 == 2", False), ("'a' < 'b'", True), ("1 == '1'", False),
    ("true == true", True), ("1 != 2", True),
])
def test_two_values_are_decided_once(text, expected):
    """A comparison of two values is constant, whatever the profile."""
    assert (expected, expected) == (matches(text), matches(text, {}))


def test_attribute_against_attribute():
    """Two attributes compare with each other, under the same rules as a value."""
    profile = {"level": 5, "minimum": 3, "team": "north"}
    assert (True, False, False) == (
        matches("level >= minimum", profile), matches("level < minimum", profile),
        matches("level == team", profile))


@pytest.mark.parametrize(("text", "expected"), [
    ("skills HAS 'billing'", True), ("skills HAS 'sales'", False),
    ("skills HAS 'retired'", False),  # level 0: the agent does not have it
    ("'billing' IN skills", True), ("'retired' IN skills", False),
    ("skills NOT HAS 'sales'", True), ("'billing' NOT IN skills", False),
    ("languages HAS 'nl'", True), ("'de' IN languages", False), ("'de' NOT IN languages", True),
    ("tags HAS 'night'", True), ("tags HAS 'day'", False), ("tags NOT HAS 'day'", True),
    ("team IN ['north', 'south']", True), ("team IN ['east']", False),
    ("team NOT IN ['east']", True), ("level IN [4, 5]", True), ("level IN []", False),
    ("'x' IN ['x', 'y']", True), ("3 IN [1, 2]", False),
    ("desk HAS 'floor'", True),  # a table's keys
])
def test_membership(text, expected):
    """HAS / IN / NOT HAS / NOT IN on skills, languages, list attributes and written lists."""
    assert expected == matches(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("skills.billing == 6", True), ("skills.billing >= 5", True),
    ("skills.sales == 0", True), ("skills.sales > 0", False),
    ("skills.first-line == 2", True),
])
def test_skill_levels(text, expected):
    """skills.x is the level in x, 0 when the agent does not have it; names may have hyphens."""
    assert expected == matches(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("level == 5 AND team == 'north'", True), ("level == 5 AND team == 'south'", False),
    ("level == 1 OR team == 'north'", True), ("level == 1 OR team == 'south'", False),
    ("NOT level == 1", True), ("NOT level == 5", False),
    ("level == 5 && team == 'north'", True), ("level == 1 || team == 'north'", True),
    ("! level == 1", True), ("!level == 5", False),
    ("tags ! HAS 'day'", True), ("team ! IN ['north']", False),
    ("level == 5 AND team == 'north' AND site == 'office' AND vip == true", True),
    ("level == 1 OR level == 2 OR level == 3 OR level == 5", True),
    ("level == 1 OR level == 2 OR level == 3 OR level == 4", False),
])
def test_logic(text, expected):
    """AND, OR, NOT and their TaskRouter spellings &&, ||, !."""
    assert expected == matches(text)


@pytest.mark.parametrize("text", [
    "level == 5 and team == 'north'", "level == 5 And team == 'north'", "level == 5 aNd team == 'north'",
    "not level == 1 or level == 1", "skills has 'billing'", "'nl' in languages", "team not in ['x']",
    "vip == TRUE", "vip == True", "skills HaS 'billing' AND 'NL' In ['NL']",
])
def test_keywords_are_case_insensitive(text):
    """and / And / AND, has, in, not, true are the same keywords."""
    assert True is matches(text)


def test_keyword_prefixes_are_names():
    """android, order, index, notes, island, hasty, trueish are names, not keywords."""
    profile = {name: 1 for name in ("android", "order", "index", "notes", "island", "hasty", "trueish")}
    text = " AND ".join(f"{name} == 1" for name in profile)
    assert (True, frozenset(profile)) == (matches(text, profile), parse_requirement(text).attributes)


# --- precedence -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # OR binds looser than AND: true OR (false AND false)
    ("level == 5 OR level == 1 AND level == 2", True),
    # (true OR false) AND false with parentheses
    ("(level == 5 OR level == 1) AND level == 2", False),
    # NOT binds tighter than AND: (NOT false) AND true
    ("NOT level == 1 AND level == 5", True),
    # NOT binds tighter than OR: (NOT true) OR false
    ("NOT level == 5 OR level == 1", False),
    ("NOT (level == 5 OR level == 1)", False),
    ("NOT NOT level == 5", True),
    ("((level == 5))", True),
    ("level == 1 AND level == 2 OR level == 5 AND team == 'north'", True),
])
def test_precedence(text, expected):
    """NOT binds tighter than AND, AND tighter than OR; parentheses group."""
    assert expected == matches(text)


# --- literals -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "profile"), [
    (r"name == 'O\'Neil'", {"name": "O'Neil"}),
    (r'name == "O\"Neil"', {"name": 'O"Neil'}),
    ('name == "O\'Neil"', {"name": "O'Neil"}),
    (r"name == 'a\\b'", {"name": "a\\b"}),
    ("name == ''", {"name": ""}),
    ("name == 'first line'", {"name": "first line"}),
    ("skills HAS 'first line'", {"skills": {"first line": 1}}),
    ("level == 007", {"level": 7}),
    ("level == -2.5", {"level": -2.5}),
])
def test_literals(text, profile):
    """Quoted texts with backslash escapes, integers and decimals are read as written."""
    assert True is matches(text, profile)


# --- missing attributes and odd values ------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("shift == 'night'", False), ("shift != 'night'", False), ("shift > 1", False),
    ("NOT shift == 'night'", True), ("shift IN ['night']", False), ("shift NOT IN ['night']", True),
    ("perks HAS 'car'", False), ("perks NOT HAS 'car'", True), ("'car' IN perks", False),
    ("desk.colour == 'red'", False), ("site.city == 'Ghent'", False), ("desk.city.zip == 1", False),
])
def test_missing_attributes_make_a_test_false(text, expected):
    """An attribute the agent does not have fails every test on it; NOT turns that around."""
    assert expected == matches(text)


def test_a_profile_without_skills_or_languages():
    """No skills table means level 0 in everything; no languages means none."""
    assert (False, True, False, False) == (
        matches("skills HAS 'billing'", {}), matches("skills.billing == 0", {}),
        matches("'nl' IN languages", {}), matches("languages HAS 'nl'", {"languages": None}))


@pytest.mark.parametrize(("text", "expected"), [
    ("level >= 'x'", False), ("level == '5'", False), ("team > 3", False), ("team != 3", False),
    ("vip == 1", False),  # true is not 1
    ("level == true", False), ("tags == 'night'", False), ("tags > 1", False),
    ("desk == 3", False), ("team HAS 'n'", False),  # a text is not a collection of letters
    ("level HAS 5", False), ("level IN [true]", False), ("vip IN [1]", False), ("vip IN [true]", True),
])
def test_type_mismatches_are_false(text, expected):
    """A comparison across kinds of value is false, never a TypeError."""
    assert expected == matches(text)


def test_numbers_of_any_type_compare():
    """Decimal and int attributes compare with integer and decimal values."""
    profile = {"credit": Decimal("10.5"), "count": 3}
    assert (True, True, True) == (
        matches("credit > 10", profile), matches("credit == 10.5", profile), matches("count IN [3.0]", profile))


def test_a_skill_level_that_is_not_a_number():
    """A level that is not a number makes the agent not have the skill, without raising."""
    profile = {"skills": {"billing": "high", "general": None, "sales": True}}
    assert (False, False, False, False) == (
        matches("skills HAS 'billing'", profile), matches("skills HAS 'general'", profile),
        matches("skills HAS 'sales'", profile), matches("skills.billing >= 1", profile))


class Exploding(dict):
    def get(self, key, default=None):
        raise RuntimeError("broken")


@pytest.mark.parametrize("profile", [
    {"skills": ["billing"], "languages": "nl", "level": None, "tags": 5},
    {"skills": None, "languages": 7, "level": [1], "team": {"a": 1}, "desk": "x"},
    {"skills": {"billing": 6}, "languages": frozenset({"nl"}), "level": object(), "team": float("nan")},
    Exploding(),
    {"desk": Exploding()},
])
def test_odd_profiles_never_raise(profile):
    """Whatever the profile holds, matches() answers True or False."""
    texts = [
        "skills HAS 'billing' AND level >= 5 AND 'nl' IN languages", "skills.billing >= 5",
        "tags HAS 'x'", "team IN ['a', 1]", "level == level", "desk.floor > 1", "NOT team == 'a'",
    ]
    assert [bool] * len(texts) == [type(matches(text, profile)) for text in texts]


# --- what a requirement refers to -----------------------------------------------------


@pytest.mark.parametrize(("text", "skills", "languages", "attributes"), [
    ("skills HAS 'billing' AND level >= 5 AND 'nl' IN languages", {"billing"}, {"nl"}, {"level"}),
    ("skills.billing >= 5 OR (skills HAS 'general' AND NOT team == 'trainees')",
     {"billing", "general"}, set(), {"team"}),
    ("'sales' IN skills OR skills NOT HAS 'x' OR 'y' NOT IN skills", {"sales", "x", "y"}, set(), set()),
    ("languages HAS 'en' OR 'fr' NOT IN languages", set(), {"en", "fr"}, set()),
    ("team IN ['north', 'south'] AND site != 'home'", set(), set(), {"team", "site"}),
    ("desk.floor > 1 AND name == 'ada' AND 'x' IN tags", set(), set(), {"desk", "name", "tags"}),
    ("skills.first-line >= skills.second-line", {"first-line", "second-line"}, set(), set()),
    ("level >= minimum", set(), set(), {"level", "minimum"}),
    ("1 == 0 AND skills HAS 'unreachable'", {"unreachable"}, set(), set()),  # folded, still reported
    ("1 == 1 OR team == 'x'", set(), set(), {"team"}),
    ("1 == 1", set(), set(), set()),
])
def test_what_a_requirement_refers_to(text, skills, languages, attributes):
    """skills, languages and attributes list every name the text uses, constant parts included."""
    requirement = parse_requirement(text)
    assert (text, frozenset(skills), frozenset(languages), frozenset(attributes)) == (
        requirement.source, requirement.skills, requirement.languages, requirement.attributes)


# --- any agent ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\t\n "])
def test_blank_means_any_agent(text):
    """An empty or blank text matches every agent and refers to nothing."""
    requirement = parse_requirement(text)
    assert (text, True, True, frozenset(), frozenset(), frozenset()) == (
        requirement.source, requirement.matches({}), requirement.matches(ADA),
        requirement.skills, requirement.languages, requirement.attributes)


def test_any_is_the_empty_requirement():
    """Requirement.ANY is what parse_requirement('') returns, and matches anyone."""
    assert (Requirement.ANY, "", True) == (parse_requirement(""), Requirement.ANY.source, Requirement.ANY.matches({}))


def test_requirements_are_values():
    """Two parses of one text are equal, hashable, and the cached one is the same object."""
    text = "skills HAS 'billing'"
    first, second = parse_requirement(text), parse_requirement(text)
    assert (True, 1, False) == (first is second, len({first, second}), first == parse_requirement("1 == 1"))


def test_the_api():
    """The module exports exactly the Requirement and parse_requirement."""
    assert ["Requirement", "parse_requirement"] == requirements.__all__


def test_a_requirement_is_a_str():
    """Passing something other than text is a programmer's mistake: a TypeError."""
    with pytest.raises(TypeError) as caught:
        parse_requirement(None)  # type: ignore[arg-type]
    assert "a requirement is a str, not NoneType" == str(caught.value)


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message", "column"), [
    ("level >=", "expected a value after '>=', found the end of the text", 9),
    ("level >=   ", "expected a value after '>=', found the end of the text", 9),
    ("level = 5", "unknown operator '='; use '==' to compare", 7),
    ("level => 5", "unknown operator '=>'; use '>='", 7),
    ("level =< 5", "unknown operator '=<'; use '<='", 7),
    ("level <> 5", "unknown operator '<>'; use '!=' to test that two values differ", 7),
    ("a == 1 & b == 2", "unknown operator '&'; use AND (or '&&')", 8),
    ("a == 1 | b == 2", "unknown operator '|'; use OR (or '||')", 8),
    ("(a == 1", "unclosed parenthesis: '(' has no matching ')'", 1),
    ("(a == 1 OR (b == 2)", "unclosed parenthesis: '(' has no matching ')'", 1),
    ("a == 1 AND (b == 2 OR (c == 3)", "unclosed parenthesis: '(' has no matching ')'", 12),
    ("a == 1)", "')' has no matching '('", 7),
    ("name == 'ada", "unclosed string: the text from here has no closing '", 9),
    ('name == "ada', 'unclosed string: the text from here has no closing "', 9),
    ("team IN ['a', 'b'", "unclosed list: '[' has no matching ']'", 9),
    ("team IN [", "unclosed list: '[' has no matching ']'", 9),
    ("team IN ['a' 'b']", "expected ',' or ']' after 'a', found 'b'", 14),
    ("team IN ['a', ]", "expected a value after ',', found ']'", 15),
    ("team IN ['a', ['b']]", "expected a value after ',', found '['", 15),
    ("team IN", "expected a list or an attribute after 'IN', found the end of the text", 8),
    ("skills HAS", "expected a value after 'HAS', found the end of the text", 11),
    ("level 5", "expected an operator (==, !=, <, <=, >, >=, HAS or IN) after 'level', found '5'", 7),
    ("vip", "expected an operator (==, !=, <, <=, >, >=, HAS or IN) after 'vip', found the end of the"
            " text (to test a yes/no attribute write vip == true)", 4),
    ("level NOT 5", "expected HAS or IN after 'NOT', found '5'", 11),
    ("level == 5 team == 'x'", "expected AND or OR after '5', found 'team'", 12),
    ("(level == 5 team == 'x')", "expected AND, OR or ')' after '5', found 'team'", 13),
    ("level == 5 AND", "expected a condition (such as skills HAS 'billing') after 'AND', found the end of"
                       " the text", 15),
    ("level == 5 OR OR team == 'x'", "expected a condition (such as skills HAS 'billing') after 'OR',"
                                     " found the keyword 'OR'", 15),
    ("AND level == 5", "expected a condition (such as skills HAS 'billing'), found the keyword 'AND'", 1),
    ("in == 5", "expected a condition (such as skills HAS 'billing'), found the keyword 'in'", 1),
    ("== 5", "expected a condition (such as skills HAS 'billing'), found '=='", 1),
    ("()", "expected a condition (such as skills HAS 'billing') after '(', found ')'", 2),
    ("NOT", "expected a condition (such as skills HAS 'billing') after 'NOT', found the end of the text", 4),
    ("level == == 5", "expected a value after '==', found '=='", 10),
    ("level >= .5", "write a decimal with a digit before the point: 0.5", 10),
    ("skills. == 1", "a name must follow the '.' after skills", 7),
    ("level == 5 $", "unexpected character '$'", 12),
    ("équipe == 'a'", "unexpected character 'é'", 1),
    ("level == 5\x00", "unexpected character '\\x00' (not printable)", 11),
])
def test_syntax_errors(text, message, column):
    """Text that does not parse is refused in words, at the 1-based column of the fault."""
    assert (message, column) == refusal(text)


@pytest.mark.parametrize(("text", "message", "column"), [
    ("'billing' HAS skills", "HAS needs an attribute on its left, as in skills HAS 'billing'", 1),
    ("['a'] HAS 'a'", "HAS needs an attribute on its left, as in skills HAS 'billing'; to test a value"
                      " against a list write 'a' IN [...]", 1),
    ("skills HAS billing", "HAS needs a quoted value, not the attribute billing: write skills HAS 'billing'", 12),
    ("billing IN skills", "IN needs a quoted value, not the attribute billing: write 'billing' IN skills", 1),
    ("tags HAS ['a', 'b']", "HAS takes one value, not a list; join several tests with AND", 10),
    ("team IN 'north'", "IN needs a list or an attribute on its right, as in team IN ['north']", 9),
    ("['a'] IN tags", "IN needs one value on its left, not a list", 1),
    ("skills HAS 5", "skill names are quoted text: write '5'", 12),
    ("true IN languages", "language codes are quoted text: write 'true'", 1),
    ("skills.billing HAS 'x'", "skills.billing is a level (a number), not a set: write skills HAS 'billing'"
                               " or skills.billing >= 1", 1),
    ("skills == 1", "skills is the agent's set of skills: test one with skills HAS 'billing', or compare"
                    " its level with skills.billing >= 5", 1),
    ("skills IN ['a']", "skills is the agent's set of skills: test one with skills HAS 'billing', or compare"
                        " its level with skills.billing >= 5", 1),
    ("level == languages", "languages is the agent's set of codes: test one with languages HAS 'nl'", 10),
    ("languages.nl == 1", "languages is a set of codes: write languages HAS 'nl'", 1),
    ("skills.billing.level > 1", "a skill has a level and no parts: write skills.billing", 1),
    ("tags == ['a']", "a list can only follow IN, not ==: write attribute IN [...]", 9),
    ("vip > true", "true can only be compared with == or !=", 7),
    ("false <= vip", "false can only be compared with == or !=", 1),
])
def test_meaningless_expressions(text, message, column):
    """Text that parses but means nothing is refused too, at the operand at fault."""
    assert (message, column) == refusal(text)


def test_the_message_names_where_the_text_came_from():
    """``where`` and the source lead the message; the caret points at the column."""
    with pytest.raises(RequirementError) as caught:
        parse_requirement("level = 5", where="queues.billing.requirement")
    error = caught.value
    assert ("queues.billing.requirement", "level = 5", 7) == (error.where, error.source, error.column)
    assert ("queues.billing.requirement: unknown operator '='; use '==' to compare in 'level = 5' at column 7\n"
            "    level = 5\n"
            "          ^") == str(error)


def test_lark_errors_are_translated():
    """A syntax error is a RequirementError (a CommunicationError) caused by lark's own error."""
    with pytest.raises(RequirementError) as caught:
        parse_requirement("level >=")
    error = caught.value
    assert (True, True, False) == (
        isinstance(error, CommunicationError),
        isinstance(error.__cause__, lark.exceptions.UnexpectedInput),
        isinstance(error, lark.exceptions.LarkError))


def test_too_long_a_text_is_refused():
    """More than 2,000 characters is refused before parsing; the message quotes only the start."""
    text = "level == 5 AND " * 140 + "level == 5"
    with pytest.raises(RequirementError) as caught:
        parse_requirement(text)
    error = caught.value
    assert (f"the requirement is {len(text)} characters long; at most 2000 are allowed (simplify it, or give"
            " the agents an attribute that sums it up)", None, text[:60] + "...") == (
        error.reason, error.column, error.source)


def test_a_text_of_2000_characters_is_accepted():
    """The limit is inclusive: exactly 2,000 characters parse."""
    text = "level == 5" + " " * 1990
    assert (2000, True) == (len(text), matches(text))


def test_too_deep_a_text_is_refused():
    """More than 32 nested levels of NOT is refused, at the first level too many."""
    assert ("the requirement nests more than 32 levels deep (each NOT, and each AND / OR group inside another,"
            " is a level); simplify it", 33) == refusal("!" * 40 + "level == 5")


def test_deep_parentheses_alone_are_free():
    """Redundant parentheses add no level: 900 of them still parse."""
    assert True is matches("(" * 900 + "level == 5" + ")" * 900)


def test_alternating_groups_count_as_levels():
    """AND / OR groups nested inside each other count towards the limit."""
    def nested(levels: int) -> str:
        text = "level == 5"
        for i in range(levels):
            text = f"(level == 5 AND {text})" if i % 2 else f"(level == 1 OR {text})"
        return text

    assert (True, "the requirement nests") == (matches(nested(30)), refusal(nested(40))[0][:21])


# --- properties -----------------------------------------------------------------------

SIMPLE = st.sampled_from([
    "skills HAS 'billing'", "'general' IN skills", "skills.billing >= 5", "skills.sales == 0",
    "languages HAS 'nl'", "'en' NOT IN languages", "level >= 5", "level < 3", "5 == level",
    "team == 'north'", "team != 'south'", "team IN ['north', 'east']", "site NOT IN ['home']",
    "tags HAS 'night'", "vip == true", "level >= 'x'", "1 == 1", "1 == 2",
])
EXPRESSIONS = st.recursive(
    SIMPLE,
    lambda inner: st.one_of(
        st.builds(lambda a: f"NOT ({a})", inner),
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) OR ({b})", inner, inner),
    ),
    max_leaves=6,
)
PROFILES = st.fixed_dictionaries({}, optional={
    "skills": st.dictionaries(st.sampled_from(["billing", "general", "sales"]), st.integers(0, 9), max_size=3),
    "languages": st.frozensets(st.sampled_from(["nl", "en", "fr"])),
    "level": st.one_of(st.integers(0, 9), st.floats(allow_nan=True), st.text(max_size=2), st.none()),
    "team": st.sampled_from(["north", "south", "east", 3, True]),
    "site": st.sampled_from(["home", "office", None]),
    "tags": st.one_of(st.lists(st.sampled_from(["night", "day"]), max_size=2), st.text(max_size=5)),
    "vip": st.one_of(st.booleans(), st.integers(0, 1)),
})


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS, EXPRESSIONS, PROFILES)
def test_and_or_not_mean_what_they_say(a, b, profile):
    """(A) AND (B), (A) OR (B) and NOT (A) match as Python's and / or / not of the parts."""
    first, second = parse_requirement(a).matches(profile), parse_requirement(b).matches(profile)
    assert (first and second, first or second, not first) == (
        parse_requirement(f"({a}) AND ({b})").matches(profile),
        parse_requirement(f"({a}) OR ({b})").matches(profile),
        parse_requirement(f"NOT ({a})").matches(profile),
    )


@settings(max_examples=300, deadline=None)
@given(SIMPLE, SIMPLE, PROFILES)
def test_and_of_two_simple_expressions(a, b, profile):
    """parse(a + ' AND ' + b) matches exactly when both parts do."""
    expected = parse_requirement(a).matches(profile) and parse_requirement(b).matches(profile)
    assert expected == parse_requirement(a + " AND " + b).matches(profile)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab =!<>&|()[],.'\"\\-_1.5 ANDORTHASINtrue\x00é\n", max_size=40))
def test_any_text_is_parsed_or_refused_in_words(text):
    """Whatever the text, parse_requirement returns a Requirement or raises a RequirementError."""
    try:
        outcome = type(parse_requirement(text))
    except RequirementError as error:
        outcome = RequirementError if error.reason else None
    assert outcome in (Requirement, RequirementError)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS, st.dictionaries(st.text(max_size=8), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
), max_size=5))
def test_matches_always_answers_a_bool(text, profile):
    """matches() returns a bool for any profile, however odd its values."""
    assert bool is type(parse_requirement(text).matches(profile))

"""The Erlang C model: the textbook worked case, M/M/1, a large centre, overload, bad arguments."""

from __future__ import annotations

import math

import pytest

from caruso.services.communication.erlang import ErlangC, agents_needed, erlang_c

WORKED = {"calls_per_hour": 100, "handle_time": 180}  # 5 Erlangs


def test_the_worked_case_gives_the_published_service_level_and_speed_of_answer():
    """100 calls an hour of 180 s on 8 agents: 88.01% within 20 s, 10.04 s on average."""
    result = erlang_c(agents=8, target=20, **WORKED)
    assert (8, 5.0, 0.625, 20.0) == (result.agents, result.offered_load, result.occupancy, result.target)
    assert 0.8801 == round(result.service_level, 4)
    assert 10.04 == round(result.average_speed_of_answer, 2)
    assert 0.1673 == round(result.probability_of_wait, 4)
    assert result.stable


def test_the_target_defaults_to_twenty_seconds():
    """Leaving target out is the 80/20 convention's 20 s."""
    assert erlang_c(agents=8, target=20, **WORKED) == erlang_c(agents=8, **WORKED)


def test_one_agent_is_the_m_m_1_queue():
    """c = 1: P(wait) = rho and ASA = rho / (mu - lambda)."""
    arrival, service = 10 / 3600, 1 / 180  # per second
    rho = arrival / service
    result = erlang_c(agents=1, calls_per_hour=10, handle_time=180)
    assert rho == pytest.approx(result.probability_of_wait)
    assert rho / (service - arrival) == pytest.approx(result.average_speed_of_answer)
    assert 1 - rho * math.exp(-(service - arrival) * 20) == pytest.approx(result.service_level)


def test_two_thousand_agents_neither_overflow_nor_leave_the_unit_interval():
    """1,950 Erlangs on 2,000 agents: finite probabilities in [0, 1] (factorials would overflow at 171)."""
    result = erlang_c(agents=2000, calls_per_hour=1950 * 3600 / 180, handle_time=180)
    assert 1950.0 == pytest.approx(result.offered_load)
    values = (result.probability_of_wait, result.service_level)
    assert [True, True] == [0.0 <= value <= 1.0 for value in values]
    assert math.isfinite(result.average_speed_of_answer)
    assert result.average_speed_of_answer > 0


def test_no_calls_means_no_wait():
    """A load of 0: nobody waits, everyone is answered within the target."""
    result = erlang_c(agents=3, calls_per_hour=0, handle_time=180)
    assert (0.0, 1.0, 0.0) == (result.probability_of_wait, result.service_level, result.average_speed_of_answer)


@pytest.mark.parametrize("agents", [4, 5])
def test_an_overloaded_queue_returns_the_saturated_limit(agents):
    """Load >= agents: every call waits, none within the target, no finite mean wait."""
    result = erlang_c(agents=agents, **WORKED)
    assert ErlangC(agents, 5.0, 5.0 / agents, 1.0, 0.0, math.inf, 20.0) == result
    assert not result.stable


def test_agents_needed_for_the_worked_case_at_eighty_percent_is_eight():
    """8 agents reach 80% within 20 s and 7 do not."""
    assert 8 == agents_needed(target=20, service_level=0.8, **WORKED)
    assert erlang_c(agents=7, target=20, **WORKED).service_level < 0.8
    assert erlang_c(agents=8, target=20, **WORKED).service_level >= 0.8


def test_agents_needed_agrees_with_erlang_c_on_a_large_centre():
    """The incremental search gives the same answer as trying each staffing level."""
    load = {"calls_per_hour": 1950 * 20, "handle_time": 180}
    needed = agents_needed(target=20, service_level=0.9, **load)
    assert erlang_c(agents=needed, **load).service_level >= 0.9
    assert erlang_c(agents=needed - 1, **load).service_level < 0.9


def test_agents_needed_without_calls_is_one():
    """No load still takes one agent to answer anything."""
    assert 1 == agents_needed(calls_per_hour=0, handle_time=180, target=20, service_level=0.99)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"agents": 0}, "agents must be at least 1"),
        ({"agents": -3}, "agents must be at least 1"),
        ({"calls_per_hour": -1}, "calls_per_hour cannot be negative"),
        ({"handle_time": 0}, "handle_time must be greater than 0"),
        ({"handle_time": -180}, "handle_time must be greater than 0"),
        ({"target": -1}, "target cannot be negative"),
        ({"calls_per_hour": math.nan}, "calls_per_hour must be a finite number"),
        ({"handle_time": math.inf}, "handle_time must be a finite number"),
    ],
)
def test_bad_arguments_are_refused_with_the_argument_named(arguments, message):
    """A ValueError that says which argument and what is wrong with it."""
    with pytest.raises(ValueError) as caught:
        erlang_c(**{"agents": 8, **WORKED, **arguments})
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("agents", [8.0, "8", True])
def test_agents_must_be_an_integer(agents):
    """A float, a string or a bool of agents is a programmer's mistake: TypeError."""
    with pytest.raises(TypeError) as caught:
        erlang_c(agents=agents, **WORKED)
    assert "agents must be an integer" in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"service_level": 1.0}, "service_level must be below 1"),
        ({"service_level": -0.1}, "service_level cannot be negative"),
        ({"target": -5}, "target cannot be negative"),
        ({"handle_time": 0}, "handle_time must be greater than 0"),
    ],
)
def test_agents_needed_refuses_bad_arguments(arguments, message):
    """Including a service level of 1, which no finite staff reaches (the search would never end)."""
    with pytest.raises(ValueError) as caught:
        agents_needed(**{**WORKED, "target": 20, "service_level": 0.8, **arguments})
    assert str(caught.value).startswith(message)

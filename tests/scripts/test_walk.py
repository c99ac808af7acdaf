"""Walking a script without an application, from recorded answers or a person at the keyboard."""

from __future__ import annotations

import pytest

from caruso.errors import ScriptDefinitionError
from caruso.services.scripts.walk import walk

from .test_interpreter import METER, read


def test_a_recording_in_order_walks_to_the_end():
    """Each stopping question takes the next answer; refusals are shown and use up their entry."""
    lines = []
    result = walk(read(METER), answers=["gas", "lots", "6000"], context={"name": "Ada"}, echo=lines.append)
    assert result.complete
    assert [
        "script 't': Test (version 1, mode agent)",
        "[a] Gas or electricity, Ada?\n  gas - Gas\n  9) electricity - Electricity",
        "  > gas",
        "[b] Your gas reading?",
        "  > lots",
        "  ! expected a number, got 'lots'",
        "  > 6000",
        "[high] That is a lot.",
        "[done] Thanks.\n  = resolved",
    ] == lines


def test_a_recording_by_step_in_ivr_mode():
    """Answers keyed by step id or variable; IVR shows and takes keypad digits."""
    lines = []
    result = walk(read(METER), answers={"a": "9", "b": 12}, mode="ivr", echo=lines.append)
    assert ("resolved", {"a": "electricity", "b": 12}) == (result.view.outcome, dict(result.view.answers))
    assert "[a] Gas or electricity, ?\n  1) gas - Gas\n  9) electricity - Electricity" == lines[1]


def test_a_walk_stops_where_the_recording_ends():
    """Without an answer for a step, the walk stops and says where."""
    lines = []
    result = walk(read(METER), answers=["gas"], echo=lines.append)
    assert (False, "no recorded answer for step 'b'") == (result.complete, result.stopped)
    assert "stopped: no recorded answer for step 'b'" == lines[-1]


def test_requests_are_printed_as_they_happen():
    """What the script asks of other components shows in the transcript."""
    script = read("""
        <info id="a"><prompt>Transferring.</prompt>
          <action name="transfer"><arg name="queue" value="'billing'"/></action><go to="e"/></info>
        <end id="e" outcome="transferred"/>
    """)
    lines = []
    walk(script, answers=[], echo=lines.append)
    assert ["  -> transfer (queue=billing)", "[a] Transferring.", "[e]\n  = transferred"] == lines[1:]


def test_asking_a_person():
    """Without a recording, ask() is called for each step that needs a person."""
    asked = []

    def ask(view):
        asked.append(view.step)
        return {"a": "electricity", "b": "10"}.get(view.step)

    result = walk(read(METER), ask=ask, echo=lambda line: None)
    assert (["a", "b"], "resolved") == (asked, result.view.outcome)


def test_a_file_with_problems_is_refused(tmp_path):
    """A script file is read and checked first; problems are raised as file:line."""
    path = tmp_path / "bad.xml"
    path.write_text('<script id="x" title="X" languages="en" start="nowhere"><end id="e" outcome="ok"/></script>')
    with pytest.raises(ScriptDefinitionError, match="bad.xml"):
        walk(path, answers=[], echo=lambda line: None)

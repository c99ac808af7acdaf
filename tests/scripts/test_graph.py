"""Diagram source of a script's flow: Mermaid and Graphviz dot, with conditions escaped."""

from __future__ import annotations

import pytest

from caruso.services.scripts.graph import dot, graph, mermaid
from caruso.services.scripts.reader import read_script

SCRIPT = b"""<script id="refund" title="Refund" languages="en" start="amount">
  <question id="amount" kind="number">
    <prompt>How much?</prompt>
    <go to="big" if="amount &gt; 100 and context.queue != &quot;vip&quot;"/>
    <go to="paid"/>
  </question>
  <info id="big">
    <prompt>A colleague will check it.</prompt>
    <go to="paid"><action name="email" on-error="sorry"><arg name="to" value="'a@b'"/></action></go>
  </info>
  <info id="sorry"><prompt>Sorry.</prompt><go to="paid"/></info>
  <end id="paid" outcome="resolved"/>
</script>"""


@pytest.fixture
def refund():
    script, problems = read_script(SCRIPT, filename="refund.xml")
    assert [] == problems
    return script


def test_mermaid(refund):
    """Questions are boxes with their kind, ends circles with their outcome; conditions label the arrows,
    on-error arrows are dashed, and quotes and > are written as Mermaid entity codes."""
    expected = """flowchart TD
    start_(("start"))
    s1["amount<br/>number"]
    s2("big")
    s3("sorry")
    s4(("paid<br/>resolved"))
    start_ --> s1
    s1 -->|"amount #gt; 100 and context.queue != #quot;vip#quot;"| s2
    s1 --> s4
    s2 --> s4
    s2 -.->|"error: email"| s3
    s3 --> s4
"""
    assert expected == mermaid(refund)


def test_dot(refund):
    """The same picture in dot: quoted ids, escaped quotes, dashed on-error edges."""
    expected = r"""digraph "refund" {
    node [shape=box, fontname=Helvetica];
    edge [fontname=Helvetica, fontsize=10];
    "(start)" [label="start", shape=circle];
    "amount" [label="amount\nnumber", shape=box];
    "big" [label="big", shape=box, style=rounded];
    "sorry" [label="sorry", shape=box, style=rounded];
    "paid" [label="paid\nresolved", shape=doublecircle];
    "(start)" -> "amount";
    "amount" -> "big" [label="amount > 100 and context.queue != \"vip\""];
    "amount" -> "paid";
    "big" -> "paid";
    "big" -> "sorry" [label="error: email", style=dashed];
    "sorry" -> "paid";
}
"""
    assert expected == dot(refund)


def test_fragment_exits_are_drawn_as_outside_nodes():
    """Targets outside the file (a fragment's exits) appear as their own, distinct nodes."""
    text = b"""<fragment id="verify" languages="en" exits="ok">
      <question id="sure" kind="yesno"><prompt>Sure?</prompt><go to="ok"/></question></fragment>"""
    script, _ = read_script(text, filename="verify.xml")
    assert ['    s2[/"ok"/]', "    s1 --> s2"] == [line for line in mermaid(script).splitlines() if "s2" in line]
    assert '    "ok" [shape=box, style=dashed];' in dot(script).splitlines()


def test_long_condition_is_shortened():
    """A long condition is cut to keep the diagram readable; the file keeps the detail."""
    condition = " or ".join(f"x == {i}" for i in range(30))
    text = f"""<script id="s" title="S" languages="en" start="a">
      <info id="a"><prompt>A</prompt><go to="e" if="{condition}"/><go to="e"/></info>
      <end id="e" outcome="ok"/></script>""".encode()
    script, _ = read_script(text, filename="s.xml")
    [edge] = [line for line in dot(script).splitlines() if "label=" in line and "->" in line]
    assert '"a" -> "e" [label="x == 0 or x == 1 or x == 2 or x == 3 or x == ..."];' == edge.strip()


def test_graph_dispatches_by_format(refund):
    """graph() picks the renderer by name and refuses an unknown one, listing the known."""
    assert mermaid(refund) == graph(refund, "mermaid")
    assert dot(refund) == graph(refund, "dot")
    with pytest.raises(ValueError, match="unknown graph format 'svg'; use one of mermaid, dot"):
        graph(refund, "svg")

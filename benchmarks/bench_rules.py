"""What business rules cost a save: 100 rules evaluated on every save, against the same saves without rules.

    python benchmarks/bench_rules.py [--objects 100000] [--batch 100] [--rounds 3]

Two applications on SQLite files, the same model and the same workload: ``--objects``
opportunities created through the bom service, ``--batch`` per transaction. One has the
rules plugin with 100 ``created`` rules on the object: 99 whose conditions compare the new
object's attributes and (almost always) do not hold, and one that holds for 1 object in 100
and creates a task - so every save evaluates 100 conditions and some saves run an action.
The other is the baseline: no rules plugin. Printed: saves per second of each, and the
ratio (time with rules / time without), the median of ``--rounds``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from caruso.testing import make_app

MODEL = """<model>
<object name="Opportunity" table="opportunity">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="stage" type="string" default="initiation"/>
  <attribute name="value" type="decimal" precision="12" scale="2" default="0"/>
  <attribute name="owner" type="string"/>
</object>
<object name="Task" table="task">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="title" type="string" required="yes"/>
  <attribute name="assignee" type="string" required="yes"/>
</object>
</model>
"""

DESCRIPTOR = """
[application]
name = "Rules benchmark"

[storage]
url = "sqlite:///{db}"
{rules}"""

RULES_ON = """
[plugins]
enabled = ["rules"]

[services.rules.settings]
due_every = 0
"""


def rules_file(count: int = 100) -> str:
    rules = []
    for n in range(count - 1):
        rules.append(f"""  <rule name="r{n:03d}" on="created" object="Opportunity"
        if="object.value > {2_000_000 + n} and object.owner == 'owner-{n}'">
    <action name="note"><arg name="text" value="'never'"/></action>
  </rule>""")
    rules.append("""  <rule name="big" on="created" object="Opportunity" if="object.value >= 990">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Review ' ~ object.name, 'assignee': 'senior-manager'}"/>
    </action>
  </rule>""")
    return "<rules>\n" + "\n".join(rules) + "\n</rules>\n"


def run(folder: Path, *, with_rules: bool, objects: int, batch: int) -> tuple[float, int]:
    """Seconds to save ``objects`` opportunities, and the tasks the rules created."""
    descriptor = DESCRIPTOR.format(rules=RULES_ON if with_rules else "", db=folder / "crm.db")
    files = {"models/sales.xml": MODEL}
    if with_rules:
        files["rules/many.xml"] = rules_file()
    app = make_app(folder, descriptor, files)
    with app:
        app.services.get("storage").upgrade()
        bom = app.services.get("bom")
        Opportunity = bom.model.Opportunity
        started = time.perf_counter()
        for first in range(0, objects, batch):
            with bom.unit_of_work() as session:
                session.add_all(Opportunity(name=f"opportunity {n}", value=Decimal(n % 1000), owner=f"owner-{n % 50}")
                                for n in range(first, min(first + batch, objects)))
        elapsed = time.perf_counter() - started
        with bom.session() as session:
            tasks = session.query(bom.model.Task).count()
    return elapsed, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    without, with_rules, ratios = [], [], []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as other:
            plain, _ = run(Path(base), with_rules=False, objects=args.objects, batch=args.batch)
            ruled, tasks = run(Path(other), with_rules=True, objects=args.objects, batch=args.batch)
        expected = sum(1 for n in range(args.objects) if n % 1000 >= 990)
        assert tasks == expected, f"the rules created {tasks} tasks, expected {expected}"
        without.append(plain)
        with_rules.append(ruled)
        ratios.append(ruled / plain)
        print(f"round {round_ + 1}: without rules {args.objects / plain:,.0f} saves/s,"
              f" with 100 rules {args.objects / ruled:,.0f} saves/s, ratio {ruled / plain:.2f}"
              f" ({tasks} tasks created)")
    print(f"\n{args.objects:,} saves in batches of {args.batch}, median of {args.rounds} rounds:")
    print(f"  without rules      {args.objects / statistics.median(without):10,.0f} saves/s")
    print(f"  with 100 rules     {args.objects / statistics.median(with_rules):10,.0f} saves/s")
    print(f"  overhead ratio     {statistics.median(ratios):10.2f}x  (time with rules / time without)")


if __name__ == "__main__":
    main()

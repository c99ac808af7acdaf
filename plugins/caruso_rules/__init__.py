"""Business rules: when something happens to a business object and a condition holds, run actions.

A first-party plugin (enable it with ``[plugins] enabled = ["rules"]``). Rules
are XML files validated against ``caruso/schemas/rules.dtd``; conditions and
arguments are the dialogue scripts' sandboxed expressions and actions are the
scripts' registered actions, so a rule can do what a script can. See
docs/rules.md.
"""

from caruso_rules.engine import Change, RulesEngine
from caruso_rules.model import EVENTS, Rule
from caruso_rules.reader import read_rules
from caruso_rules.runs import RuleRun
from caruso_rules.service import RulesService, RulesSettings

__all__ = ["EVENTS", "Change", "Rule", "RuleRun", "RulesEngine", "RulesService", "RulesSettings", "read_rules"]

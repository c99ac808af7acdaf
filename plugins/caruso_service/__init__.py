"""Service: requests and complaints with SLA timers and escalation, contracts, equipment, a knowledge base.

A first-party plugin (``[plugins] enabled = ["customers", "rules", "service"]``): it
extends the customers plugin's Customer, and its SLA timers are a ``due`` rule of the
rules plugin, so both must be enabled. See docs/plugin-service.md.
"""

from caruso_service.desk import LevelSettings, ServiceDesk, ServiceDeskSettings
from caruso_service.knowledge import Answered, KnowledgeBase

__all__ = ["Answered", "KnowledgeBase", "LevelSettings", "ServiceDesk", "ServiceDeskSettings"]

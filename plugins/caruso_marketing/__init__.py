"""Marketing: saved segments, campaigns over them by e-mail or by outbound calls, and their responses.

A first-party plugin (``[plugins] enabled = ["customers", "marketing"]``). See
docs/plugin-marketing.md.
"""

from caruso_marketing.service import OPERATORS, MarketingService

__all__ = ["OPERATORS", "MarketingService"]

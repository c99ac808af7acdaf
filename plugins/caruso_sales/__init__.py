"""Sales: leads scored hot or cold, opportunities through configurable stages, quotes, orders to the ERP, a forecast.

A first-party plugin (``[plugins] enabled = ["customers", "sales"]``) extending the
customers plugin's Customer (an account). See docs/plugin-sales.md.
"""

from caruso_sales.service import SalesService, SalesSettings, ScoreRule, StageSettings

__all__ = ["SalesService", "SalesSettings", "ScoreRule", "StageSettings"]

"""Outbound campaigns: a call list from a segment, dialed through the communication server.

(Being written: the settings below are the contract with the server and the descriptor.)
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["CampaignManager", "CampaignSettings"]


@attrs.frozen
class CampaignSettings:
    """``[[services.communication.settings.campaigns]]``: one outbound campaign."""

    name: str
    queue: str


class CampaignManager:
    """Runs the campaigns of one communication server."""

    def __init__(self, server: Any, campaigns: tuple[CampaignSettings, ...]):
        self.server = server
        self.campaigns = {campaign.name: campaign for campaign in campaigns}

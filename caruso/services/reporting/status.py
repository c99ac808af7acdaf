"""The live status as text, for ``caruso monitor`` in a terminal."""

from __future__ import annotations

import datetime as dt

from caruso.services.reporting.monitor import Snapshot

__all__ = ["format_snapshot"]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def format_snapshot(snapshot: Snapshot, timezone: dt.tzinfo, *, title: str = "") -> str:
    """Agents, queues, campaigns and alarms as aligned tables."""
    when = dt.datetime.fromtimestamp(snapshot.at, timezone).strftime("%Y-%m-%d %H:%M:%S")
    states = ", ".join(f"{count} {state}" for state, count in sorted(snapshot.agents_by_state.items()))
    lines = [f"{title + ' - ' if title else ''}live status at {when} (event {snapshot.seq})",
             f"agents: {states or 'none'}", ""]
    if snapshot.alarms:
        lines.append("ALARMS")
        for alarm in snapshot.alarms:
            since = dt.datetime.fromtimestamp(alarm.since, timezone).strftime("%H:%M:%S")
            lines.append(f"  ! {alarm.message} (since {since})")
        lines.append("")
    lines.append(f"{'QUEUE':<20}{'WAITING':>8}{'LONGEST':>9}{'OFFERED':>9}{'ANSWERED':>9}{'ABANDONED':>10}{'SL TODAY':>9}")
    for queue in snapshot.queues:
        lines.append(f"{queue.name:<20}{queue.waiting:>8}{_duration(queue.longest_wait):>9}{queue.offered_today:>9}"
                     f"{queue.answered_today:>9}{queue.abandoned_today:>10}{_percent(queue.service_level_today):>9}")
    lines.append("")
    lines.append(f"{'AGENT':<20}{'STATE':<12}{'FOR':>9}  {'CONTACTS':>8}{'HANDLED':>9}  REASON")
    for agent in snapshot.agents:
        if agent.state == "logged-out":
            continue
        lines.append(f"{agent.name:<20}{agent.state:<12}{_duration(agent.in_state):>9}  {agent.contacts:>8}"
                     f"{agent.handled_today:>9}  {agent.reason or ''}")
    if snapshot.campaigns:
        lines.append("")
        lines.append(f"{'CAMPAIGN':<20}{'STATE':<12}{'ATTEMPTS':>9}{'REACHED':>9}{'REMAINING':>10}")
        for campaign in snapshot.campaigns:
            remaining = "-" if campaign.remaining is None else str(campaign.remaining)
            lines.append(f"{campaign.name:<20}{campaign.state:<12}{campaign.attempts:>9}{campaign.reached:>9}{remaining:>10}")
    return "\n".join(lines)

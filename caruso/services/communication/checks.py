"""``caruso check`` for the communication server: the descriptor's queues, agents and skills,
checked without starting anything (the same findings the service refuses to start on)."""

from __future__ import annotations

from typing import Any

from caruso.errors import ConfigError, Problem

__all__ = ["check_application_communication"]


def check_application_communication(app: Any) -> list[Problem]:
    from caruso.config import structure_settings
    from caruso.services.communication.server import routing_strategies
    from caruso.services.communication.settings import CommunicationSettings, settings_problems

    section = app.config.services.get("communication")
    if section is None or not section.enabled:
        return []
    try:
        settings = structure_settings(CommunicationSettings, section.settings, config=app.config,
                                      service="communication")
    except ConfigError as exc:
        return list(exc.problems)
    scripts = _script_ids(app)
    return settings_problems(settings, config=app.config, strategies=routing_strategies(app), scripts=scripts,
                             root=app.root)


def _script_ids(app: Any) -> dict[str, Any] | None:
    """The dialogue scripts' ids, read (not started) as the scripts service would read them."""
    from caruso.services.scripts.reader import read_scripts
    from caruso.services.scripts.service import ScriptsSettings, script_paths
    from caruso.config import structure_settings

    section = app.config.services.get("scripts")
    settings = ScriptsSettings()
    try:
        if section is not None and section.settings:
            settings = structure_settings(ScriptsSettings, section.settings, config=app.config, service="scripts")
        scripts, _problems = read_scripts(script_paths(app, settings, app.root))
    except Exception:  # the scripts' own check reports what is wrong with them
        return None
    return {script.id: script for script in scripts}

"""The plugin contract: every hook a Caruso plugin may implement, documented here and only here.

A plugin is a module (or object) with functions marked ``@caruso.hookimpl``
whose names match the hooks below. Hooks take keyword arguments; a plugin may
accept any subset of a hook's arguments. Hook names say what the hook gives
back: ``register_*`` returns things for Caruso to register, ``check_*``
returns problems. Built-in components implement these same hooks (see
``caruso.plugins.DEFAULT_PLUGINS``), so every one of them can be swapped.

Hooks are read once, while the application loads. What may change while the
system runs (replacing a service) goes through the service manager's API.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("caruso")
hookimpl = pluggy.HookimplMarker("caruso")


@hookspec
def register_services(app):
    """Return an iterable of ``caruso.ServiceDefinition`` for the services this plugin contributes."""


@hookspec
def register_commands(cli):
    """Add commands or command groups to the ``caruso`` click group ``cli``."""


@hookspec
def check_application(app):
    """Return an iterable of ``caruso.Problem`` found in the files the application references."""


@hookspec
def register_models(app):
    """Return an iterable of paths to business-object model files (XML, ``bom.dtd``) this plugin contributes."""


@hookspec
def register_scripts(app):
    """Return an iterable of paths to dialogue-script files (XML, ``dialogue.dtd``) this plugin contributes."""


@hookspec
def register_rules(app):
    """Return an iterable of paths to business-rule files (XML, ``rules.dtd``) this plugin contributes."""


@hookspec
def register_views(app):
    """Return an iterable of paths to view files or folders (XML, ``views.dtd``) this plugin contributes."""


@hookspec
def register_actions(app):
    """Return an iterable of ``caruso.services.scripts.actions.ActionDefinition`` that dialogue scripts may call."""


@hookspec
def register_routing_strategies(app):
    """Return an iterable of ``caruso.services.communication.strategies.RoutingStrategy`` subclasses queues may name."""


@hookspec
def register_reports(app):
    """Return an iterable of paths to report-definition files or folders (XML, ``reports.dtd``) this plugin contributes."""


@hookspec
def register_report_sources(app):
    """Return an iterable of ``caruso.services.reporting.source.ReportSource`` subclasses reports may name as ``source``."""


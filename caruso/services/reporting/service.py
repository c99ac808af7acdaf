"""The ``reports`` service: report definitions by name, computed over a period on demand.

Definitions come from three places, in this order: the built-in files
(``caruso/services/reporting/reports/``), the files plugins return from
``register_reports``, and the application's own ``reports/`` folder (or the
folders ``[services.reports.settings] folders`` names). A report with the name
of a built-in one replaces it; two others of one name are an error. Sources
come from ``register_report_sources``; a plugin's source with a built-in's name
replaces it.

The service reads the database only: it never starts the communication
server, so ``caruso report`` runs beside a live call centre, or on a copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import ReportRequestError, did_you_mean
from caruso.plugins import call_each, contributed_paths
from caruso.services.base import Health, Service
from caruso.services.reporting.definitions import BUILTIN_FOLDER, ReportDefinition, read_definitions
from caruso.services.reporting.engine import ReportResult, compute
from caruso.services.reporting.intervals import Period
from caruso.services.reporting.source import ReportSource
from caruso.storage.metadata import new_metadata

__all__ = ["ReportsService", "ReportsSettings", "report_definitions", "report_sources"]


@attrs.frozen
class ReportsSettings:
    """``[services.reports.settings]``.

    Args:
        folders: the application's report files or folders (relative to the application
            folder); ``reports`` may be missing.
        timezone: the zone days, weeks and months are counted in (an IANA name).
        max_intervals: the most intervals one report may have; more is refused with a
            message saying how to ask for fewer.
    """

    folders: tuple[Path, ...] = (Path("reports"),)
    timezone: str = "UTC"
    max_intervals: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))


def report_sources(app: Any) -> dict[str, type[ReportSource]]:
    """Every report source by name: the built-ins, then the plugins' (which may replace one)."""
    from caruso.services.reporting.sources import BUILTIN_SOURCES

    if app is None:
        return {source.name: source for source in BUILTIN_SOURCES}
    found: dict[str, type[ReportSource]] = {}
    for _plugin, sources in call_each(app.plugin_manager.hook.register_report_sources, app=app):
        for source in sources:
            if not (isinstance(source, type) and issubclass(source, ReportSource) and source.name):
                raise TypeError(f"register_report_sources returned {source!r}; expected ReportSource "
                                "subclasses with a name")
            found[source.name] = source
    return found


def report_definitions(app: Any, settings: ReportsSettings, sources: Mapping[str, type[ReportSource]]
                       ) -> dict[str, ReportDefinition]:
    """Every report definition of the application by name (see the module docstring)."""
    builtin = read_definitions([BUILTIN_FOLDER], sources)
    if app is None:
        return builtin
    paths = contributed_paths(app, "register_reports", settings.folders, default=Path("reports"), root=app.root)
    paths = [p for p in paths if Path(p).resolve() != BUILTIN_FOLDER.resolve()]
    theirs = read_definitions(paths, sources)
    return {**builtin, **theirs}


class ReportsService(Service):
    """The default ``reports`` service (see the module docstring and docs/reporting.md)."""

    requires = ("storage", "clock")
    Settings = ReportsSettings

    def __init__(self) -> None:
        self.storage: Any = None
        self.clock: Any = None
        self.app: Any = None
        self.config = ReportsSettings()
        self.sources: dict[str, type[ReportSource]] = {}
        self.definitions: dict[str, ReportDefinition] = {}

    def on_start(self) -> None:
        manager = self.context.manager
        settings = self.context.settings
        self.bind(self.context.app, manager.get("storage"), manager.get("clock"),
                  settings if isinstance(settings, ReportsSettings) else ReportsSettings())

    def bind(self, app: Any, storage: Any, clock: Any, settings: ReportsSettings) -> ReportsService:
        """Load sources and definitions and use ``storage``: what ``start`` does, and what
        ``caruso report`` does without starting the application.

        Raises:
            ReportDefinitionError: a report file is wrong (every problem, file:line).
        """
        self.app, self.storage, self.clock, self.config = app, storage, clock, settings
        self.sources = report_sources(app)
        self.definitions = report_definitions(app, settings, self.sources)
        return self

    def health(self) -> Health:
        return Health(detail=f"{len(self.definitions)} reports")

    def names(self) -> list[str]:
        return sorted(self.definitions)

    def definition(self, name: str) -> ReportDefinition:
        """The report ``name``; ReportRequestError with a did-you-mean if there is none."""
        found = self.definitions.get(name)
        if found is None:
            raise ReportRequestError(f"no report {name!r}{did_you_mean(name, self.definitions)}; "
                                     f"known: {', '.join(self.names())}")
        return found

    def period(self, start: dt.datetime, end: dt.datetime, interval: str) -> Period:
        """A checked period in the configured time zone (naive times are read in it)."""
        return Period.make(start, end, interval, timezone=self.config.timezone,
                           max_intervals=self.config.max_intervals)

    def run(self, name: str | ReportDefinition, start: dt.datetime, end: dt.datetime,
            interval: str | None = None) -> ReportResult:
        """Compute the report over ``start`` (included) to ``end`` (excluded), by ``interval``
        (default: the definition's).

        Raises:
            ReportRequestError: an unknown report or interval, a reversed period, too many intervals.
        """
        definition = name if isinstance(name, ReportDefinition) else self.definition(name)
        period = self.period(start, end, interval or definition.interval)
        metadata = new_metadata()
        source = self.sources[definition.source](metadata)
        until = self.clock.now().timestamp() if self.clock is not None else period.end_epoch
        inspector = sa.inspect(self.storage.engine)
        present = all(inspector.has_table(table) for table in source.tables)  # no log yet: empty
        with self.storage.transaction() as connection:
            return compute(definition, source, period, connection, app=self.app, until=until, empty=not present)


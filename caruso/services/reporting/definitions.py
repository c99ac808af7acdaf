"""Report definition files: XML validated against ``reports.dtd``, then checked against the sources.

A definition names its source, the dimensions it groups by, the measures it
shows, filters, parameters and charts (``docs/report-definitions.md``). The
reader collects every problem of every file before it gives up, each located
as ``file:line`` naming the element, with a did-you-mean for a misspelt
source, measure, dimension or parameter: an integrator fixes a folder of
reports in one pass, as with models and scripts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from caruso.errors import DocumentError, Problem, ReportDefinitionError, did_you_mean
from caruso.services.reporting.source import ReportSource
from caruso.xml import Schema, problem_at, xml_files

__all__ = ["BUILTIN_FOLDER", "Chart", "Column", "Filter", "ReportDefinition", "read_definitions"]

BUILTIN_FOLDER = Path(__file__).parent / "reports"
"""The built-in reports (contact statistics, agent availability, voicemail, campaign results)."""


@attrs.frozen
class Column:
    """A dimension or measure a report shows, with its heading."""

    name: str
    label: str


@attrs.frozen
class Filter:
    """Keep facts whose ``dimension`` is in ``values`` (or, with ``exclude``, is not)."""

    dimension: str
    values: tuple[str, ...]
    exclude: bool = False


@attrs.frozen
class Chart:
    """A chart of ``measures``: ``line``, ``bar``, ``stacked-bar`` over the intervals, or ``pie``."""

    type: str
    measures: tuple[str, ...]
    title: str = ""


@attrs.frozen
class ReportDefinition:
    """One report, as read from its file (``where`` is ``file:line`` of its root)."""

    name: str
    title: str
    source: str
    interval: str
    dimensions: tuple[Column, ...]
    measures: tuple[Column, ...]
    filters: tuple[Filter, ...] = ()
    charts: tuple[Chart, ...] = ()
    parameters: Mapping[str, float] = attrs.field(factory=dict)
    description: str = ""
    where: str = ""


def read_definitions(paths: Iterable[str | Path], sources: Mapping[str, type[ReportSource]]
                     ) -> dict[str, ReportDefinition]:
    """Every report in ``paths`` (files, or folders of ``*.xml``), by name, in the order given.

    A later file may not reuse a name: two reports of one name are a problem,
    naming both places.

    Raises:
        ReportDefinitionError: every problem of every file.
    """
    files, problems = xml_files(paths, kind="report")
    schema = Schema.named("reports.dtd")
    found: dict[str, ReportDefinition] = {}
    for path in files:
        try:
            tree = schema.parse(path)
        except DocumentError as exc:
            problems.extend(exc.problems)
            continue
        definition, more = _definition(tree.getroot(), sources)
        problems.extend(more)
        if definition is None:
            continue
        previous = found.get(definition.name)
        if previous is not None:
            problems.append(problem_at(tree.getroot(), f"a report named {definition.name!r} is already "
                                                      f"defined at {previous.where}; rename one of them"))
            continue
        found[definition.name] = definition
    if problems:
        raise ReportDefinitionError(problems)
    return found


def _definition(root, sources: Mapping[str, type[ReportSource]]) -> tuple[ReportDefinition | None, list[Problem]]:
    problems: list[Problem] = []
    source_name = root.get("source")
    source = sources.get(source_name)
    if source is None:
        hint = did_you_mean(source_name, sources) or f"; known: {', '.join(sorted(sources))}"
        return None, [problem_at(root, f"unknown source {source_name!r}{hint}")]
    schema = Schema.named("reports.dtd")

    def known(element, kind: str, name: str, names: Sequence[str]) -> bool:
        if name in names:
            return True
        hint = did_you_mean(name, names) or f"; {source_name} has: {', '.join(names)}"
        problems.append(problem_at(element, f"unknown {kind} {name!r} of source {source_name!r}{hint}"))
        return False

    parameters: dict[str, float] = {}
    for element in root.iterfind("parameter"):
        name = element.get("name")
        if not known(element, "parameter", name, list(source.parameters)):
            continue
        try:
            parameters[name] = float(element.get("value"))
        except ValueError:
            problems.append(problem_at(element, f"value {element.get('value')!r} is not a number (seconds)"))

    def columns(tag: str, kind: str, catalogue) -> tuple[Column, ...]:
        found = []
        names = [entry.name for entry in catalogue]
        for element in root.iterfind(tag):
            name = element.get("name")
            if known(element, kind, name, names):
                entry = next(e for e in catalogue if e.name == name)
                found.append(Column(name, element.get("label") or entry.label))
        return tuple(found)

    dimensions = columns("dimension", "dimension", source.dimensions)
    measures = columns("measure", "measure", source.measures)
    filters = []
    for element in root.iterfind("filter"):
        name = element.get("dimension")
        if not known(element, "dimension", name, source.dimension_names()):
            continue
        included, excluded = element.get("in"), element.get("not-in")
        if (included is None) == (excluded is None):
            problems.append(problem_at(element, 'give exactly one of in="..." and not-in="..."'))
            continue
        filters.append(Filter(name, tuple((included or excluded).split()), exclude=excluded is not None))
    charts = []
    shown = [m.name for m in measures]
    for element in root.iterfind("chart"):
        wanted = tuple(element.get("measures").split())
        missing = [m for m in wanted if m not in shown]
        for name in missing:
            hint = did_you_mean(name, shown) or f"; the report shows: {', '.join(shown)}"
            problems.append(problem_at(element, f"charts measure {name!r}, which the report does not show{hint}"))
        if not missing:
            charts.append(Chart(schema.get(element, "type"), wanted, element.get("title") or ""))
    if problems:
        return None, problems
    description = root.findtext("description") or ""
    return ReportDefinition(
        name=root.get("name"), title=root.get("title"), source=source_name,
        interval=schema.get(root, "interval"), dimensions=dimensions, measures=measures,
        filters=tuple(filters), charts=tuple(charts), parameters=parameters,
        description=" ".join(description.split()), where=f"{root.base}:{root.sourceline}",
    ), []


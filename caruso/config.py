"""The application descriptor (``caruso.toml``): its schema, loading and validation.

An integrator writes one TOML file per application::

    [application]
    name = "Demo Utility"

    [plugins]
    enabled = ["caruso-customers"]
    folders = ["plugins"]

    [services.billing]
    implementation = "billing_wrapper:BillingService"
    [services.billing.settings]
    url = "http://127.0.0.1:8901"
    password = "${BILLING_PASSWORD}"

``tomllib`` parses it, ``${NAME}`` references are expanded from the
environment, and cattrs structures the result into the frozen attrs classes
below. Each service's ``settings`` table stays a plain dict until the
application knows which class implements the service; ``structure_settings``
then structures it into that class's ``Settings`` with the same error quality.

Every problem found is collected and raised together in one
``caruso.errors.ConfigError``, each located as ``file:line``. tomllib reports
no positions for valid TOML, so ``locate_key`` finds lines on its own (best
effort; see its docstring).

The reference for integrators is ``docs/descriptor.md``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import functools
import importlib
import json
import os
import pkgutil
import re
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
import cattrs.cols
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from caruso.errors import ConfigError, Problem, did_you_mean
from caruso.plugins import import_from_folders

__all__ = [
    "DESCRIPTOR_NAME",
    "AppConfig",
    "ApplicationSection",
    "PluginsSection",
    "ServiceSection",
    "StorageSection",
    "import_object",
    "load_config",
    "locate_key",
    "parse_config",
    "structure_settings",
]

DESCRIPTOR_NAME = "caruso.toml"

KeyPath = tuple[str | int, ...]
Located = tuple[KeyPath, str]  # a message and the key path it is about

# ---------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------


@attrs.frozen
class ApplicationSection:
    """``[application]``: what the CRM is called; shown in the CLI and the web front office."""

    name: str
    description: str = ""


@attrs.frozen
class StorageSection:
    """``[storage]``: the database behind the storage manager, as a SQLAlchemy URL.

    A relative SQLite file (``sqlite:///crm.db``) is made absolute against the
    application folder when loading, so the CRM finds its data whatever the
    working directory of the process.
    """

    url: str = "sqlite:///caruso.db"


@attrs.frozen
class PluginsSection:
    """``[plugins]``: installed plugins to enable by entry-point name, and local plugin folders.

    Installing a package never changes an application that did not enable it.
    ``folders`` are absolute once loaded.
    """

    enabled: tuple[str, ...] = ()
    folders: tuple[Path, ...] = ()


@attrs.frozen
class ServiceSection:
    """``[services.NAME]``: how the descriptor adjusts one service.

    ``implementation`` (``"package.module:Class"``) swaps the class a plugin
    contributes, or adds a service no plugin provides; ``enabled = false``
    drops a contributed service. ``settings`` stays a raw dict here: it is
    structured by ``structure_settings`` once the implementing class, and so
    its ``Settings`` class, is known.
    """

    implementation: str | None = None
    enabled: bool = True
    requires: tuple[str, ...] = ()
    ranking: int | None = None  # None: keep the plugin's ranking
    properties: dict[str, Any] = attrs.field(factory=dict)
    settings: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class _Document:
    """The shape of the TOML document itself: AppConfig without where the file lives."""

    application: ApplicationSection
    storage: StorageSection = StorageSection()
    plugins: PluginsSection = PluginsSection()
    services: dict[str, ServiceSection] = attrs.field(factory=dict)


@attrs.frozen
class AppConfig:
    """A validated descriptor.

    Attributes:
        path: the descriptor file (absolute).
        root: its folder; relative paths in the descriptor resolve against it.
        text: the TOML source, kept so that problems found later (a service's
            settings) can still point at their line.
    """

    application: ApplicationSection
    storage: StorageSection
    plugins: PluginsSection
    services: dict[str, ServiceSection]
    path: Path
    root: Path
    text: str = attrs.field(default="", repr=False, eq=False)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

_STARTER = '[application]\nname = "My CRM"'


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read and validate the descriptor in ``path`` (a folder holding ``caruso.toml``, or the file).

    Args:
        path: the application folder or the descriptor file.
        environ: where ``${NAME}`` references are looked up; ``os.environ`` by default.

    Raises:
        ConfigError: with every problem found, each located as ``file:line``.
    """
    given = Path(path).expanduser().absolute()
    file = given / DESCRIPTOR_NAME if given.is_dir() else given
    if not file.is_file():
        raise ConfigError(_missing_descriptor_message(given, file))
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the descriptor: {exc.strerror or exc}", file=str(file)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            Problem(str(file), line, f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8")
        ) from exc
    return parse_config(text, path=file, environ=environ)


def _missing_descriptor_message(given: Path, file: Path) -> str:
    if given.is_dir():
        return f"no {DESCRIPTOR_NAME} in {given} (looked for {file}); create it with at least:\n\n{_STARTER}\n"
    if given.suffix == ".toml":
        return f"descriptor {file} does not exist; create it with at least:\n\n{_STARTER}\n"
    return f"{given} does not exist; pass an application folder or a descriptor file"


def parse_config(
    text: str, *, path: Path, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Validate descriptor ``text`` as if read from ``path`` (relative paths resolve against its folder).

    Raises:
        ConfigError: with every problem found: TOML syntax (then nothing else),
            unset environment variables, unknown keys, wrong types, missing
            values, bad implementation paths and missing plugin folders.
    """
    path = Path(path).absolute()
    root = path.parent
    file = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_problem(exc, file)) from exc

    located: list[Located] = []
    data = _interpolate(raw, os.environ if environ is None else environ, (), located)
    located.extend(_check_implementations(data))
    located.extend(_check_plugin_folders(data, root))
    document: _Document | None = None
    try:
        document = _converter(root).structure(data, _Document)
    except (ClassValidationError, IterableValidationError) as exc:
        located.extend(_describe_structure_errors(exc, ()))
    if located:
        raise ConfigError(_problems(located, file, text))
    assert document is not None
    return AppConfig(
        application=document.application,
        storage=attrs.evolve(document.storage, url=_absolute_sqlite_url(document.storage.url, root)),
        plugins=document.plugins,
        services=document.services,
        path=path,
        root=root,
        text=text,
    )


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


def _syntax_problem(exc: tomllib.TOMLDecodeError, file: str) -> Problem:
    """tomllib appends "(at line L, column C)" to its message; move L into the Problem."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match is None:
        return Problem(file, None, f"TOML syntax error: {message}")
    what = message[: match.start()]
    if match.group(1) is None:
        return Problem(file, None, f"TOML syntax error: {what} at the end of the file")
    return Problem(file, int(match.group(1)), f"TOML syntax error: {what} (column {match.group(2)})")


def _problems(located: list[Located], file: str, text: str) -> list[Problem]:
    """Turn (key path, message) pairs into Problems, in the order of their lines."""
    lines = _KeyLines(text)
    problems = [Problem(file, lines.nearest(key_path), message) for key_path, message in located]
    return sorted(problems, key=lambda p: p.line or sys.maxsize)


# ---------------------------------------------------------------------------
# Environment interpolation: ${NAME}, ${NAME:-default}, $${ for a literal ${
# ---------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_VARIABLE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def _interpolate(value: Any, environ: Mapping[str, str], key_path: KeyPath, errors: list[Located]) -> Any:
    """``value`` with every string expanded; problems are appended to ``errors``.

    Keys are never expanded, only values. A reference that cannot be expanded
    is left as written, so structuring still checks the rest.
    """
    if isinstance(value, str):
        return _expand(value, environ, key_path, errors)
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, (*key_path, k), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, (*key_path, i), errors) for i, v in enumerate(value)]
    return value


def _expand(text: str, environ: Mapping[str, str], key_path: KeyPath, errors: list[Located]) -> str:
    where = _format_key_path(key_path)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group("body")
        if body is None:
            errors.append((key_path, f"{where}: unterminated '${{' in {text!r}; "
                           "close it with '}', or write '$${' for a literal '${'"))
            return match.group(0)
        variable = _VARIABLE.fullmatch(body)
        if variable is None:
            errors.append((key_path, f"{where}: '${{{body}}}' is not a valid reference; write "
                           "${NAME} or ${NAME:-default} (NAME: letters, digits, _), or '$${' for a literal '${'"))
            return match.group(0)
        name, default = variable.group("name"), variable.group("default")
        found = environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is not None:
                return default
            errors.append((key_path, f"{where}: environment variable {name} is not set; set it, "
                           f"or give a default with ${{{name}:-value}}"))
            return match.group(0)
        return found

    return _REFERENCE.sub(replace, text)


# ---------------------------------------------------------------------------
# Checks on the raw data that types alone cannot express
# ---------------------------------------------------------------------------


def _import_path_error(path: str) -> str | None:
    """Why ``path`` is not "package.module:Attr", or None when it is."""
    module, colon, attr = path.partition(":")
    if not colon:
        return "has no ':' between module and object"
    for part, what in ((module, "module"), (attr, "object")):
        if not part or not all(name.isidentifier() for name in part.split(".")):
            return f"has no valid {what} name ({part!r})"
    return None


def _check_implementations(data: dict) -> Iterator[Located]:
    services = data.get("services")
    if not isinstance(services, dict):
        return
    for name, section in services.items():
        implementation = section.get("implementation") if isinstance(section, dict) else None
        if not isinstance(implementation, str):
            continue
        error = _import_path_error(implementation)
        if error:
            key_path: KeyPath = ("services", name, "implementation")
            yield key_path, (
                f"{_format_key_path(key_path)}: {implementation!r} {error}; "
                'write it as "package.module:Class"'
            )


def _check_plugin_folders(data: dict, root: Path) -> Iterator[Located]:
    plugins = data.get("plugins")
    folders = plugins.get("folders") if isinstance(plugins, dict) else None
    if not isinstance(folders, list):
        return
    for index, folder in enumerate(folders):
        if not isinstance(folder, str):
            continue
        resolved = _resolve(folder, root)
        key_path: KeyPath = ("plugins", "folders", index)
        if not resolved.exists():
            yield key_path, (f"plugin folder {folder!r} does not exist (looked for {resolved}); "
                             "create it or remove it from plugins.folders")
        elif not resolved.is_dir():
            yield key_path, f"plugin folder {folder!r} is not a folder ({resolved})"


def _resolve(value: str, root: Path) -> Path:
    """A path from the descriptor: relative ones are relative to the descriptor's folder."""
    return root / Path(value).expanduser()


_SQLITE_FILE_URL = re.compile(r"(?P<prefix>sqlite(?:\+\w+)?:///)(?P<file>[^?]*)(?P<query>\?.*)?", re.DOTALL)


def _absolute_sqlite_url(url: str, root: Path) -> str:
    """``sqlite:///crm.db`` -> ``sqlite:////app/folder/crm.db``; other URLs unchanged."""
    match = _SQLITE_FILE_URL.fullmatch(url)
    if match is None:
        return url
    file = match.group("file")
    if not file or file == ":memory:" or file.startswith(("/", "file:")):
        return url
    return f"{match.group('prefix')}{_resolve(file, root)}{match.group('query') or ''}"


# ---------------------------------------------------------------------------
# Structuring: a strict cattrs converter and its errors in words
# ---------------------------------------------------------------------------


class _WrongType(TypeError):
    """A value of the wrong kind, described for people who write TOML, not Python."""

    def __init__(self, expected: str, value: Any):
        super().__init__(f"expected {expected}, got {_describe_value(value)}")


@functools.lru_cache(maxsize=16)
def _converter(root: Path) -> cattrs.Converter:
    """A converter that refuses what cattrs would quietly coerce.

    Out of the box, cattrs turns ``"false"`` into True, ``"12"`` into 12 and
    the string ``"abc"`` into the list ``['a', 'b', 'c']``; in a descriptor each
    of these is a mistake to report. Paths resolve against ``root``. Cached per
    root: generating the structuring code is most of the cost of loading.
    """
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    structure_str = _exact(str)
    converter.register_structure_hook(str, structure_str)
    converter.register_structure_hook(bool, _exact(bool))
    converter.register_structure_hook(int, _exact(int))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(Path, lambda value, _: _resolve(structure_str(value, Path), root))
    for kind in (datetime.datetime, datetime.date, datetime.time):
        converter.register_structure_hook(kind, _exact(kind))
    converter.register_structure_hook_factory(
        _is_enum, lambda t: _choice_hook(t, [(member.value, member) for member in t])
    )
    converter.register_structure_hook_factory(
        _is_literal, lambda t: _choice_hook(t, [(value, value) for value in typing.get_args(t)])
    )
    converter.register_structure_hook_factory(
        _is_mapping, lambda t: _require(dict, t, cattrs.cols.mapping_structure_factory(t, converter))
    )
    converter.register_structure_hook_factory(_is_array, lambda t: _array_hook(t, converter))
    converter.register_structure_hook_factory(
        _is_record, lambda t: _require(dict, t, converter.gen_structure_attrs_fromdict(t))
    )
    return converter


def _exact(kind: type) -> Callable[[Any, Any], Any]:
    """A hook accepting exactly ``kind`` (so no bool for an int: TOML keeps them apart too)."""

    def structure(value: Any, target: Any) -> Any:
        if type(value) is not kind:
            raise _WrongType(_describe_type(target), value)
        return value

    return structure


def _structure_float(value: Any, target: Any) -> float:
    if type(value) not in (int, float):
        raise _WrongType(_describe_type(target), value)
    return float(value)


def _is_enum(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, enum.Enum)


def _is_literal(target: Any) -> bool:
    return typing.get_origin(target) is typing.Literal


def _choice_hook(target: Any, choices: Sequence[tuple[Any, Any]]) -> Callable[[Any, Any], Any]:
    """A hook for a closed set of TOML values (Literal, Enum): (value written, result) pairs."""

    def structure(value: Any, _: Any) -> Any:
        for written, result in choices:
            if value == written and type(value) is type(written):
                return result
        raise _WrongType(_describe_type(target), value)

    return structure


_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_ARRAYS = (
    list, tuple, set, frozenset,
    collections.abc.Sequence, collections.abc.MutableSequence,
    collections.abc.Set, collections.abc.MutableSet,
)


def _is_mapping(target: Any) -> bool:
    return (typing.get_origin(target) or target) in _MAPPINGS


def _is_array(target: Any) -> bool:
    return (typing.get_origin(target) or target) in _ARRAYS


def _is_record(target: Any) -> bool:
    return isinstance(target, type) and (attrs.has(target) or dataclasses.is_dataclass(target))


def _require(kind: type, target: Any, hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, kind):
            raise _WrongType(_describe_type(target), value)
        return hook(value, target)

    return structure


def _array_hook(target: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Arrays must be TOML arrays; elements are checked one by one (errors carry the index)."""
    origin = typing.get_origin(target) or target
    args = typing.get_args(target)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return _require(list, target, converter.gen_structure_hetero_tuple(target))
    element = args[0] if args else Any
    as_list = cattrs.cols.list_structure_factory(list[element], converter)
    build = {tuple: tuple, set: set, frozenset: frozenset, collections.abc.Set: frozenset,
             collections.abc.MutableSet: set, collections.abc.Sequence: tuple}.get(origin, list)
    return _require(list, target, lambda value, _: build(as_list(value, list[element])))


_TYPE_WORDS: dict[Any, tuple[str, str]] = {
    str: ("a string", "strings"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("a boolean (true or false)", "booleans"),
    Path: ("a path (a string)", "paths"),
    datetime.datetime: ("a date-time", "date-times"),
    datetime.date: ("a date", "dates"),
    datetime.time: ("a time", "times"),
    Any: ("any value", "values"),
}


def _describe_type(target: Any) -> str:
    """A type in the words of TOML: "an integer", "an array of strings", "a table"."""
    origin = typing.get_origin(target) or target
    args = typing.get_args(target)
    if origin in _TYPE_WORDS:
        return _TYPE_WORDS[origin][0]
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if _is_enum(origin):
        return "one of " + ", ".join(repr(member.value) for member in origin)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe_type(a) for a in args if a is not type(None))
    if origin in _MAPPINGS or _is_record(origin):
        return "a table"
    if origin in _ARRAYS:
        homogeneous = len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)
        element = args[0] if homogeneous else None
        if _is_record(element) or typing.get_origin(element) in _MAPPINGS or element in _MAPPINGS:
            return "an array of tables"
        if element in _TYPE_WORDS and element is not Any:
            return "an array of " + _TYPE_WORDS[element][1]
        return "an array"
    return f"a {getattr(origin, '__name__', origin)}"


def _describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string {shown!r}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a float {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return f"a date-time {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"a date {value.isoformat()}"
    if isinstance(value, datetime.time):
        return f"a time {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def _walk(exc: BaseException, key_path: KeyPath, target: Any) -> Iterator[tuple[KeyPath, BaseException, Any]]:
    """Flatten cattrs' exception groups into (key path, leaf error, expected type).

    Detailed validation nests one group per level; each child error carries a
    note naming the attribute (classes) or index/key (arrays, tables).
    """
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for child, note in with_notes:
            step = note.name if isinstance(exc, ClassValidationError) else note.index
            yield from _walk(child, (*key_path, step), note.type)
        for child in without:
            yield from _walk(child, key_path, exc.cl)
    else:
        yield key_path, exc, target


def _describe_structure_errors(exc: BaseException, prefix: KeyPath) -> list[Located]:
    found: list[Located] = []
    for key_path, error, target in _walk(exc, prefix, None):
        if isinstance(error, ForbiddenExtraKeysError):
            allowed = [field.name for field in _record_fields(error.cl)]
            for key in sorted(error.extra_fields):
                found.append(((*key_path, key), _unknown_key_message(key, key_path, allowed)))
        elif isinstance(error, KeyError):
            found.append((key_path, _missing_message(key_path, target)))
        elif isinstance(error, _WrongType):
            found.append((key_path, f"{_format_key_path(key_path)}: {error}"))
        else:  # a validator of a Settings class refused the value
            found.append((key_path, f"{_format_key_path(key_path) or 'descriptor'}: invalid value: {error}"))
    return found


def _record_fields(cls: type) -> Sequence[Any]:
    return attrs.fields(cls) if attrs.has(cls) else dataclasses.fields(cls)


def _is_required(field: Any) -> bool:
    if isinstance(field, attrs.Attribute):
        return field.default is attrs.NOTHING
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _unknown_key_message(key: str, table: KeyPath, allowed: Sequence[str]) -> str:
    where = f"in [{_format_key_path(table)}]" if table else "at the top level"
    hint = did_you_mean(key, allowed) or (
        "; allowed keys: " + ", ".join(sorted(allowed)) if allowed else "; this table takes no keys"
    )
    return f"unknown key {key!r} {where}{hint}"


def _missing_message(key_path: KeyPath, target: Any) -> str:
    *table, key = key_path
    if _is_record(target):
        needs = [f.name for f in _record_fields(target) if _is_required(f)]
        return f"missing required table [{_format_key_path(key_path)}] (it needs: {', '.join(needs)})"
    where = f"in [{_format_key_path(tuple(table))}]" if table else "at the top level"
    return f"missing required key {key!r} ({_describe_type(target)}) {where}"


# ---------------------------------------------------------------------------
# Service settings
# ---------------------------------------------------------------------------


def structure_settings(settings_cls: type | None, raw: dict, *, config: AppConfig, service: str) -> object:
    """Structure a service's ``[services.NAME.settings]`` table into its ``Settings`` class.

    Same rules as the descriptor: unknown keys, wrong types and missing values
    are all reported at once with their ``file:line``; Path fields resolve
    against the application folder. Environment references were expanded when
    the descriptor loaded.

    Args:
        settings_cls: an attrs (or dataclass) class, or None to keep the dict.
        raw: the settings table, as in ``config.services[service].settings``.
        config: the loaded descriptor (for the folder, the file and its lines).
        service: the service name, for the key paths in messages.

    Raises:
        ConfigError: naming each key path, e.g. ``services.billing.settings.url``.
        TypeError: ``settings_cls`` is neither None nor an attrs or dataclass class.
    """
    if settings_cls is None:
        return raw
    if not _is_record(settings_cls):
        raise TypeError(f"Settings of service {service!r} must be an attrs class, not {settings_cls!r}")
    try:
        return _converter(config.root).structure(raw, settings_cls)
    except (ClassValidationError, IterableValidationError, ValueError, TypeError) as exc:
        # Groups come from cattrs; a bare ValueError/TypeError from a validator of the class itself.
        prefix: KeyPath = ("services", service, "settings")
        located = _describe_structure_errors(exc, prefix)
        raise ConfigError(_problems(located, str(config.path), config.text)) from exc


# ---------------------------------------------------------------------------
# Importing "package.module:Attr"
# ---------------------------------------------------------------------------


def import_object(path: str, *, search_paths: Sequence[Path] = ()) -> object:
    """Import the object ``path`` names: ``"package.module:Attr"`` or ``"package.module:Outer.Inner"``.

    Args:
        path: module and object, separated by a colon.
        search_paths: folders put in front of ``sys.path`` while importing (the
            application's plugin folders) and removed again afterwards.

    Raises:
        ConfigError: the path is malformed, the module does not import (naming
            the cause) or has no such attribute (with did-you-mean).
    """
    error = _import_path_error(path)
    if error:
        raise ConfigError(f"{path!r} {error}; write it as \"package.module:Class\"")
    module_name, _, attribute = path.partition(":")
    try:
        module = import_from_folders(module_name, [Path(p) for p in search_paths])
    except ModuleNotFoundError as exc:
        raise ConfigError(_module_not_found(path, module_name, exc, search_paths)) from exc
    except SyntaxError as exc:
        raise ConfigError(
            Problem(exc.filename, exc.lineno, f"cannot import {path!r}: SyntaxError: {exc.msg}")
        ) from exc
    except Exception as exc:
        raise ConfigError(f"cannot import {path!r}: importing module {module_name!r} "
                          f"raised {type(exc).__name__}: {exc}") from exc
    found: object = module
    walked = module_name
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError as exc:
            public = [n for n in dir(found) if not n.startswith("_")]
            raise ConfigError(
                f"cannot import {path!r}: {walked!r} has no attribute {name!r}{did_you_mean(name, public)}"
            ) from exc
        walked = f"{walked}:{name}" if walked == module_name else f"{walked}.{name}"
    return found


def _module_not_found(path: str, module_name: str, exc: ModuleNotFoundError, search_paths: Sequence[Path]) -> str:
    missing = exc.name or module_name
    if missing != module_name and not module_name.startswith(missing + "."):
        return (f"cannot import {path!r}: module {module_name!r} needs {missing!r}, "
                f"which is not installed ({exc})")
    parent, _, leaf = missing.rpartition(".")
    if parent:
        try:
            where = importlib.import_module(parent).__path__
        except (ImportError, AttributeError):
            where = []
    else:
        where = [str(p) for p in search_paths]
    known = [info.name for info in pkgutil.iter_modules(where)]
    looked = f" (looked in {', '.join(str(p) for p in search_paths)} and sys.path)" if search_paths else ""
    return f"cannot import {path!r}: no module named {missing!r}{did_you_mean(leaf, known)}{looked}"


# ---------------------------------------------------------------------------
# Finding the line of a key path in TOML text
# ---------------------------------------------------------------------------


def locate_key(source: str | Path, key_path: str | Sequence[str | int]) -> int | None:
    """The 1-based line where ``key_path`` is defined in a TOML document, or None.

    Best effort, because tomllib gives no positions: a line scanner (not a
    parser) records every table header (``[a.b]``, ``[[a.b]]``) and every
    ``key =`` line with the full key path it defines, skipping the inside of
    multi-line strings and arrays. A path is found on

    - its own table header or ``key =`` line;
    - the ``key =`` line of an enclosing inline table or array (inline tables
      are one line in TOML 1.0; an element of a multi-line array is reported
      at the array's key line);
    - failing both, the line of the nearest enclosing table or key that is
      found (so a missing key points at the table it belongs in).

    Args:
        source: the TOML text, or a ``Path`` to read it from.
        key_path: ``("services", "billing", "ranking")`` or the same written as
            ``'services.billing.ranking'`` (TOML quoting for keys with dots,
            ``[n]`` for array indices).
    """
    if isinstance(source, Path):
        try:
            source = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    if isinstance(key_path, str):
        key_path = _parse_key_path(key_path)
        if key_path is None:
            return None
    return _KeyLines(source).nearest(tuple(key_path))


class _KeyLines:
    """Key path -> line, for every header and ``key =`` line in a TOML text."""

    def __init__(self, text: str):
        self.headers: dict[KeyPath, int] = {}
        self.keys: dict[KeyPath, int] = {}
        self._scan(text)

    def exact(self, key_path: KeyPath) -> int | None:
        if key_path in self.headers:
            return self.headers[key_path]
        for length in range(len(key_path), 0, -1):
            line = self.keys.get(key_path[:length])
            if line is not None:
                return line
        # A table defined only through its sub-tables ([services.x.settings] without [services.x]).
        below = [line for header, line in self.headers.items() if header[: len(key_path)] == key_path]
        return min(below, default=None)

    def nearest(self, key_path: KeyPath) -> int | None:
        for length in range(len(key_path), 0, -1):
            line = self.exact(key_path[:length])
            if line is not None:
                return line
        return None

    def _scan(self, text: str) -> None:
        table: KeyPath = ()
        array_counts: dict[KeyPath, int] = {}
        value = _ValueScanner()
        for number, line in enumerate(text.split("\n"), start=1):
            if value.open:  # still inside a multi-line string or array
                value.feed(line)
                continue
            stripped = line.lstrip()
            if stripped.startswith("["):
                is_array = stripped.startswith("[[")
                parsed = _parse_keys(stripped, 2 if is_array else 1)
                if parsed is None:
                    continue
                table = self._resolve_header(parsed[0], is_array, array_counts)
                self.headers.setdefault(table, number)
                continue
            parsed = _parse_keys(stripped, 0)
            if parsed is None or not stripped[parsed[1]:].startswith("="):
                continue
            self.keys.setdefault((*table, *parsed[0]), number)
            value.feed(stripped[parsed[1] + 1:])

    @staticmethod
    def _resolve_header(keys: list[str], is_array: bool, counts: dict[KeyPath, int]) -> KeyPath:
        """Insert array-of-tables indices: the 2nd ``[[a]]`` then ``[a.b]`` is ``("a", 1, "b")``."""
        resolved: KeyPath = ()
        for i, key in enumerate(keys):
            resolved = (*resolved, key)
            if i == len(keys) - 1 and is_array:
                counts[resolved] = counts.get(resolved, 0) + 1
            if resolved in counts:
                resolved = (*resolved, counts[resolved] - 1)
        return resolved


class _ValueScanner:
    """Tracks whether a value continues on the next line: an open array, inline table or string."""

    def __init__(self) -> None:
        self.depth = 0
        self.delimiter: str | None = None  # the closing quotes of an open multi-line string

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.delimiter is not None

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.delimiter is not None:
                end = self._find_close(text, i, self.delimiter)
                if end < 0:
                    return
                i, self.delimiter = end, None
                continue
            char = text[i]
            if char == "#":
                return
            if text.startswith(('"""', "'''"), i):
                self.delimiter = text[i:i + 3]
                i += 3
            elif char in "\"'":
                end = self._find_close(text, i + 1, char)
                i = len(text) if end < 0 else end
            else:
                self.depth += (char in "[{") - (char in "]}")
                i += 1

    @staticmethod
    def _find_close(text: str, start: int, delimiter: str) -> int:
        """Index just past the closing ``delimiter`` from ``start``, or -1 (escapes honoured for ")."""
        i = start
        while i < len(text):
            if text[i] == "\\" and delimiter[0] == '"':
                i += 2
                continue
            if text.startswith(delimiter, i):
                end = i + len(delimiter)
                while text.startswith(delimiter[0], end) and len(delimiter) == 3 and end - i < 5:
                    end += 1  # up to two quotes may end a multi-line string: """a"""""
                return end
            i += 1
        return -1


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _parse_keys(text: str, start: int) -> tuple[list[str], int] | None:
    """A dotted key from ``text[start:]``: (keys, index after it and its spaces), or None."""
    keys: list[str] = []
    i = start
    while True:
        while text[i:i + 1] in (" ", "\t"):
            i += 1
        if text[i:i + 1] == '"':
            end = _ValueScanner._find_close(text, i + 1, '"')
            if end < 0:
                return None
            try:
                keys.append(json.loads(text[i:end]))
            except ValueError:
                keys.append(text[i + 1:end - 1])
            i = end
        elif text[i:i + 1] == "'":
            end = text.find("'", i + 1)
            if end < 0:
                return None
            keys.append(text[i + 1:end])
            i = end + 1
        else:
            match = _BARE_KEY.match(text, i)
            if match is None:
                return None
            keys.append(match.group(0))
            i = match.end()
        while text[i:i + 1] in (" ", "\t"):
            i += 1
        if text[i:i + 1] != ".":
            return keys, i
        i += 1


_INDEX = re.compile(r"\[(\d+)\]")


def _parse_key_path(text: str) -> KeyPath | None:
    """``'services."my.svc".folders[1]'`` -> ``("services", "my.svc", "folders", 1)``."""
    parts: list[str | int] = []
    i = 0
    while i < len(text):
        parsed = _parse_keys(text, i)
        if parsed is None:
            return None
        keys, i = parsed
        parts.extend(keys)
        while (match := _INDEX.match(text, i)) is not None:
            parts.append(int(match.group(1)))
            i = match.end()
        if text[i:i + 1] == ".":
            i += 1
        elif i < len(text):
            return None
    return tuple(parts)


def _format_key_path(key_path: KeyPath) -> str:
    """``("services", "my.svc", "folders", 1)`` -> ``services."my.svc".folders[1]``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{key}" if out else key
    return out

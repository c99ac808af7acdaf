"""Finding plugins and wiring them into pluggy.

Three sources, loaded in this order (later ones can override the defaults):

1. ``DEFAULT_PLUGINS``: Caruso's own components. They use the same hooks as
   everyone else, so any of them can be swapped.
2. Installed distributions that declare an entry point in the ``caruso``
   group, but only those the descriptor enables under ``[plugins] enabled``:
   installing a package does not change an application that did not ask for it.
3. Modules in the application's plugin folders (``[plugins] folders``): every
   ``*.py`` file and every package (a folder with ``__init__.py``).

A plugin that fails to import, implements an unknown hook or implements a hook
with a wrong signature stops the application from loading, with an error that
names the plugin and the cause: a CRM never starts half-built.

Set ``CARUSO_TRACE_HOOKS=1`` to log every hook call and its result (logger
``caruso.hooks``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pluggy

from caruso import hookspecs
from caruso.errors import PluginError, did_you_mean

ENTRY_POINT_GROUP = "caruso"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "caruso.clock",
    "caruso.storage.plugin",
    "caruso.bom.plugin",
    "caruso.services.scripts.plugin",
    "caruso.services.communication.plugin",
    "caruso.services.reporting.plugin",
    "caruso.services.channels.plugin",
    "caruso.services.channels.email.plugin",
    "caruso.services.channels.chat.plugin",
    "caruso.services.channels.sms.plugin",
    "caruso.web.plugin",
    "caruso.demo.plugin",
)

trace_log = logging.getLogger("caruso.hooks")


@attrs.frozen
class PluginInfo:
    """Where a loaded or discoverable plugin comes from, for ``caruso plugins``."""

    name: str
    source: str  # "built-in", "entry point", "folder"
    location: str  # module path, "dist==version (module)", or file path
    hooks: tuple[str, ...] = ()
    enabled: bool = True


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager knowing Caruso's hooks, tracing them if asked to."""
    pm = pluggy.PluginManager("caruso")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("CARUSO_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda message: trace_log.info(message.rstrip()))
        pm.enable_tracing()
    return pm


def installed_plugins() -> dict[str, importlib.metadata.EntryPoint]:
    """Entry points in the ``caruso`` group, by plugin name."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_plugins(
    pm: pluggy.PluginManager,
    *,
    enabled: Sequence[str] = (),
    folders: Sequence[Path] = (),
    defaults: Sequence[str] = DEFAULT_PLUGINS,
) -> None:
    """Register the default, enabled and folder plugins with ``pm``.

    Raises:
        PluginError: naming the plugin that is unknown, fails to import or breaks
            the hook contract.
    """
    for module_name in defaults:
        _register(pm, _import(module_name, plugin=module_name), module_name)

    available = installed_plugins()
    for name in enabled:
        if name not in available:
            hint = did_you_mean(name, available) or (
                "; installed: " + ", ".join(sorted(available)) if available else "; none is installed"
            )
            raise PluginError(
                name, f"is enabled in the descriptor but no installed package provides it{hint}"
            )
        try:
            plugin = available[name].load()
        except Exception as exc:
            raise PluginError(name, f"failed to import: {type(exc).__name__}: {exc}") from exc
        _register(pm, plugin, name)

    for folder in folders:
        for module_name in _folder_modules(folder):
            try:
                module = import_from_folders(module_name, [folder])
            except Exception as exc:
                raise PluginError(
                    str(folder / module_name), f"failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            _check_origin(module, folder)
            _register(pm, module, f"{folder.name}/{module_name}")

    _check_unknown_hooks(pm)


def describe_plugins(pm: pluggy.PluginManager | None = None) -> list[PluginInfo]:
    """Every plugin loaded in ``pm`` plus installed ones not enabled, with origins."""
    installed = installed_plugins()
    infos: list[PluginInfo] = []
    loaded_names: set[str] = set()
    if pm is not None:
        for name, plugin in pm.list_name_plugin():
            loaded_names.add(name)
            hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, *_origin(name, plugin, installed), hooks=hooks))
    for name, ep in sorted(installed.items()):
        if name not in loaded_names:
            infos.append(PluginInfo(name, "entry point", _location(ep), enabled=False))
    return infos


def call_each(hook: Any, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Call every implementation of ``hook``, yielding (plugin name, result) pairs.

    pluggy returns a flat list of results; Caruso also needs to know which plugin
    gave each (to show "provided by" in ``caruso services`` and to name the
    culprit in errors), so this walks the implementations itself, in the order
    they were registered: defaults first, then enabled plugins, then folders.
    """
    for impl in hook.get_hookimpls():
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
        except Exception as exc:
            raise PluginError(
                impl.plugin_name, f"hook {hook.name} raised {type(exc).__name__}: {exc}"
            ) from exc
        trace_log.debug("%s.%s -> %r", impl.plugin_name, hook.name, result)
        if result is not None:
            yield impl.plugin_name, result


@contextmanager
def prepended_sys_path(paths: Iterable[Path]) -> Iterator[None]:
    """Put ``paths`` first on ``sys.path`` for the duration of an import."""
    added = [str(p) for p in paths]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            try:
                sys.path.remove(entry)
            except ValueError:
                pass


def _import(module_name: str, *, plugin: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(plugin, f"failed to import: {type(exc).__name__}: {exc}") from exc


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    if pm.is_registered(plugin):
        return
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(name, f"breaks the hook contract: {exc}") from exc
    except ValueError as exc:  # duplicate name
        raise PluginError(name, str(exc)) from exc


def _check_unknown_hooks(pm: pluggy.PluginManager) -> None:
    known = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "caruso_spec")]
    for name, hook_caller in vars(pm.hook).items():
        if hook_caller.spec is not None:
            continue
        for impl in hook_caller.get_hookimpls():
            if impl.optionalhook:
                continue
            raise PluginError(
                impl.plugin_name, f"implements unknown hook {name!r}{did_you_mean(name, known)}"
            )


def _folder_modules(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise PluginError(str(folder), "plugin folder does not exist")
    names = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py":
            names.append(entry.stem)
        elif entry.is_dir() and (entry / "__init__.py").exists():
            names.append(entry.name)
    return names


# Modules of an application's folders (plugin folders, the application folder)
# are imported under their plain names, as Python would import them from a folder
# on sys.path, so that ``implementation = "module:Class"`` and imports between
# them find the same module object. Two applications in one process (tests, a
# host serving several CRMs) may each have a module of the same name; this
# remembers which folder each top-level name came from, so the second
# application gets its own module instead of silently running the first one's.
_folder_of_module: dict[str, Path] = {}


def import_from_folders(module_name: str, folders: Sequence[Path]) -> ModuleType:
    """Import ``module_name`` with ``folders`` first on sys.path, never another application's copy."""
    top = module_name.partition(".")[0]
    loaded_from = _folder_of_module.get(top)
    if loaded_from is not None and loaded_from not in folders:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    with prepended_sys_path(folders):
        module = importlib.import_module(module_name)
    origin = Path(getattr(sys.modules[top], "__file__", "") or "").resolve()
    for folder in folders:
        if folder.resolve() in origin.parents:
            _folder_of_module[top] = folder
    return module


def _check_origin(module: ModuleType, folder: Path) -> None:
    """A folder plugin must not silently resolve to an installed module of the same name."""
    origin = Path(getattr(module, "__file__", "") or "").resolve()
    if folder.resolve() not in origin.parents:
        raise PluginError(
            module.__name__,
            f"the plugin in {folder} has the same name as the module {origin}, "
            "which was imported instead; rename the plugin file",
        )


def _origin(name: str, plugin: object, installed: dict[str, importlib.metadata.EntryPoint]) -> tuple[str, str]:
    if name in DEFAULT_PLUGINS:
        return "built-in", name
    if name in installed:
        return "entry point", _location(installed[name])
    return "folder", str(getattr(plugin, "__file__", name))


def _location(ep: importlib.metadata.EntryPoint) -> str:
    dist = f"{ep.dist.name}=={ep.dist.version}" if ep.dist else "?"
    return f"{dist} ({ep.value})"


def contributed_paths(
    app: Any, hook_name: str, configured: Iterable[Path], *, default: Path, root: Path
) -> list[Path]:
    """Files and folders of one kind (models, scripts) for an application, in the order they apply:

    each plugin's, from the hook ``hook_name`` in plugin order, then the ones the
    service's settings name (relative to ``root``). The ``default`` folder may be
    missing (an application without files of its own); one named explicitly must exist.
    """
    paths: list[Path] = []
    if app is not None:
        for _plugin, found in call_each(getattr(app.plugin_manager.hook, hook_name), app=app):
            paths.extend(Path(p) for p in found)
    for path in configured:
        absolute = path if path.is_absolute() else root / path
        if path == default and not absolute.exists():
            continue
        paths.append(absolute)
    return paths

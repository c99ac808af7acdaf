"""The ``bom`` service: the business-object model of a running application.

At start it reads the model files (every plugin's, through the
``register_models`` hook, then the application's own ``models/`` folder),
maps the classes and registers their tables with the ``storage`` service,
which manages the schema (``caruso db status`` / ``db upgrade``) and the
connections. Classes are then reachable by name::

    bom = app.services.get("bom")
    with bom.unit_of_work(user="agent-7") as session:
        session.add(bom.Customer(name="Ada"))
        latest = session.scalars(customer.select_related("activities").limit(50)).all()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.orm import Session

from caruso.bom.audit import USER_KEY
from caruso.bom.model import BusinessModel, check_models, load_model
from caruso.clock import Clock, SystemClock
from caruso.errors import Problem, ServiceNotFound, ServiceStateError
from caruso.plugins import contributed_paths
from caruso.services.base import DOWN, Health, Service

__all__ = ["BomService", "BomSettings", "BusinessObjects", "model_paths"]

DEFAULT_MODELS = Path("models")
OWNER_KEY = "caruso_service"
"""``metadata.info`` key naming the service whose model it is (to hand over on replacement)."""


@attrs.frozen
class BomSettings:
    """``[services.bom.settings]``.

    Args:
        models: model files or folders of ``*.xml`` files, relative to the
            application folder; read after the plugins' models, so the
            application's own extensions apply last.
    """

    models: tuple[Path, ...] = (DEFAULT_MODELS,)


class BusinessObjects:
    """The interface of the bom service: business-object classes by name, and sessions
    that record who works through them."""

    model: BusinessModel

    def __getattr__(self, name: str) -> type:
        if name.startswith("_") or name == "model":
            raise AttributeError(name)
        model = self.__dict__.get("model")
        if model is None:
            raise AttributeError(f"{name}: the bom service has not started, so no model is loaded")
        return getattr(model, name)

    def __getitem__(self, name: str) -> type:
        return self._model()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._model()

    @property
    def metadata(self) -> sa.MetaData:
        """The tables of every business object, for schema management."""
        return self._model().metadata

    def _model(self) -> BusinessModel:
        model = self.__dict__.get("model")
        if model is None:
            raise ServiceStateError("the bom service has not started, so no model is loaded")
        return model


class BomService(Service, BusinessObjects):
    """The default bom service: models from files, sessions from the ``storage`` service."""

    provides = (BusinessObjects,)
    requires = ("storage",)
    Settings = BomSettings

    def on_start(self) -> None:
        context = self.context
        paths = model_paths(context.app, self.settings or BomSettings(), context.root)
        search_paths = tuple(context.app.config.plugins.folders) if context.app is not None else ()
        model = load_model(paths, clock=_clock(context.manager), search_paths=search_paths)
        model.metadata.info[OWNER_KEY] = context.name
        storage = self.storage
        for earlier in storage.metadatas:
            if earlier.info.get(OWNER_KEY) == context.name:  # the model of the bom service being replaced
                storage.unregister(earlier)
        storage.register(model.metadata)
        self.model = model

    def on_stop(self) -> None:
        model = self.__dict__.pop("model", None)
        if model is not None:
            self.storage.unregister(model.metadata)
            model.dispose()

    def health(self) -> Health:
        if self.__dict__.get("model") is None:
            return Health(DOWN, "no model loaded")
        return Health(detail=f"{len(self.model.definitions)} business objects")

    @property
    def storage(self) -> Any:
        return self.context.manager.get("storage")

    def session(self, *, user: str | None = None) -> Session:
        """A new session from storage, recording ``user`` in the audit trail; the caller
        commits and closes it (``with bom.session(user=...) as s: ...; s.commit()``)."""
        session = self.storage.session()
        if user is not None:
            session.info[USER_KEY] = user
        return session

    @contextmanager
    def unit_of_work(self, *, user: str | None = None) -> Iterator[Session]:
        """A session committed at the end of the block, or rolled back whole on error."""
        with self.storage.unit_of_work() as session:
            if user is not None:
                session.info[USER_KEY] = user
            yield session

    def insert_many(self, session: Session, name: str | type, rows: Any) -> int:
        """Bulk insert, checked by the model's rules; see ``BusinessModel.insert_many``."""
        return self._model().insert_many(session, name, rows)


def model_paths(app: Any, settings: BomSettings, root: Path) -> list[Path]:
    """The model files and folders of an application, in the order extensions apply:
    each plugin's (``register_models`` hook, plugin order), then the application's own."""
    return contributed_paths(app, "register_models", settings.models, default=DEFAULT_MODELS, root=root)


def check_application_models(app: Any) -> list[Problem]:
    """Problems in the application's model files, for ``caruso check``."""
    settings = _settings(app)
    search_paths = tuple(app.config.plugins.folders)
    return check_models(model_paths(app, settings, app.root), search_paths=search_paths)


def resolved_models(app: Any) -> dict[str, Any]:
    """The application's business objects resolved from its model files (``ResolvedObject``
    by name), starting nothing: for checkers of files that name objects and attributes.
    Problems in the models themselves are ``check_application_models``'s to report; the
    objects that resolve are kept."""
    from caruso.bom.reader import read_models
    from caruso.bom.resolve import resolve

    files, _ = read_models(model_paths(app, _settings(app), app.root))
    resolved, _ = resolve(files, search_paths=tuple(app.config.plugins.folders))
    return resolved


def _settings(app: Any) -> BomSettings:
    """The bom settings the descriptor gives (``[services.bom.settings]``), without starting anything."""
    from caruso.config import structure_settings

    section = app.config.services.get("bom")
    if section is None or not section.settings:
        return BomSettings()
    return structure_settings(BomSettings, section.settings, config=app.config, service="bom")


def _clock(manager: Any) -> Clock:
    """The application's clock service when there is one, else the system clock."""
    try:
        found = manager.get("clock")
    except ServiceNotFound:
        return SystemClock()
    return found if isinstance(found, Clock) else SystemClock()

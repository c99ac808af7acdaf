"""The business-object modeler: model files (XML, ``bom.dtd``) -> mapped classes with rules.

Integrators describe business objects in XML (docs/models.md); at start-up
the modeler generates classes and maps them onto tables with SQLAlchemy's
imperative mapping. Queries are plain SQLAlchemy, rules are checked on every
save, auditable objects record every change, and ``caruso bom reflect`` drafts
a model from an existing database.
"""

from caruso._lazy import lazy_exports

# Where each public name lives; imported on first use (PEP 562), so that the
# plugin module - which the command line always imports - stays light.
_EXPORTS = {
    "acting_as": "audit",
    "current_user": "audit",
    "BusinessModel": "model",
    "check_models": "model",
    "load_model": "model",
    "BusinessObject": "objects",
    "reflect_database": "reflect",
    "reflect_model": "reflect",
    "BomService": "service",
    "BomSettings": "service",
    "BusinessObjects": "service",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "BomService",
    "BomSettings",
    "BusinessModel",
    "BusinessObject",
    "BusinessObjects",
    "acting_as",
    "check_models",
    "current_user",
    "load_model",
    "reflect_database",
    "reflect_model",
]

"""The business-object modeler: model files (XML, ``bom.dtd``) -> mapped classes with rules.

Integrators describe business objects in XML (docs/models.md); at start-up
the modeler generates classes and maps them onto tables with SQLAlchemy's
imperative mapping. Queries are plain SQLAlchemy, rules are checked on every
save, auditable objects record every change, and ``caruso bom reflect`` drafts
a model from an existing database.
"""

from caruso.bom.audit import acting_as, current_user
from caruso.bom.model import BusinessModel, check_models, load_model
from caruso.bom.objects import BusinessObject
from caruso.bom.reflect import reflect_database, reflect_model
from caruso.bom.service import BomService, BomSettings, BusinessObjects

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

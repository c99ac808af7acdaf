"""Declared views: how business objects appear in the front office, read from XML view files
(``caruso/schemas/views.dtd``), with a default list, detail and form for every object."""

from caruso.web.views.catalog import ViewCatalog, check_application_views, view_paths
from caruso.web.views.definitions import CompositeView, DetailView, FormView, ListView, Menu

__all__ = ["CompositeView", "DetailView", "FormView", "ListView", "Menu", "ViewCatalog",
           "check_application_views", "view_paths"]

"""Customers and the contact history: the base of Caruso's CRM plugins.

A first-party plugin (``[plugins] enabled = ["customers"]``): the business objects
Customer (a person or an organisation), Contact and Address, and the ``customers``
service that finds customers and shows one from every side - its collections,
whatever other plugins add to Customer, and the contact history of the ``history``
service. Other plugins and verticals extend these objects (``<extend
object="Customer">``). See docs/plugin-customers.md.
"""

from caruso_customers.service import CustomersService, CustomerView

__all__ = ["CustomerView", "CustomersService"]

"""The customer's 360-degree view as a page: the customer, every collection of the Customer
object (contacts, addresses, and whatever plugins and verticals add), and the whole contact
history, from the ``customers`` service's ``view``.

The agent desktop loads it into its panel (``?fragment=1``: the view without the page
around it). Reading needs ``read`` on Customer; a record rule that excludes this customer
answers 404 and logs the attempt, exactly like a customer that does not exist.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caruso.web.guard import Refused, deny, guarded, hide, permissions, web_of

__all__ = ["routes"]

OBJECT = "Customer"


def routes(web: Any) -> list[Route]:
    return [Route("/v/customer-360/{key}", customer_360)]


@guarded()
async def customer_360(request: Request) -> Response:
    web = web_of(request)
    perms = permissions(request)
    if not perms.can_read(OBJECT):
        deny(request, f"reading {OBJECT}")
    customers = web.optional_service("customers")
    if customers is None:
        raise Refused(503, "the customers plugin is not enabled in this application")
    key = request.path_params["key"]
    try:
        wanted = int(key)
    except ValueError:
        wanted = key
    view = await web.blocking(customers.view, wanted)
    if view is None or not perms.allows(OBJECT, SimpleNamespace(**view.customer)):
        hide(request, f"{OBJECT} {key}")
    template = "customers/360-fragment.html" if request.query_params.get("fragment") else "customers/360.html"
    return web.templates.render(request, template, title=str(view.customer.get("name", key)), view=view)

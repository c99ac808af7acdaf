"""The first-party plugins' views: every one opens, their menus show, and a service request
made through its form gets its SLA - each plugin contributes views through register_views."""

from __future__ import annotations

import re

import pytest

from caruso.testing import make_app
from caruso.web.views import ListView
from tests.web.conftest import DESCRIPTOR, Client

PLUGINS = '["customers", "rules", "service", "sales", "marketing"]'


@pytest.fixture
def crm(tmp_path):
    descriptor = DESCRIPTOR.format(db=tmp_path / "crm.db").replace('enabled = ["customers"]', f"enabled = {PLUGINS}")
    app = make_app(tmp_path / "app", descriptor)
    assert [] == app.check()
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("anna", "anna-password", roles=["agent"])
    client = Client(web.asgi)
    client.login("anna", "anna-password")
    yield app, client
    client.http.close()
    app.stop()


def test_every_list_view_of_every_plugin_opens_and_the_menus_show(crm):
    app, client = crm
    catalog = app.services.get("web").views
    lists = [name for name, view in catalog.views.items() if isinstance(view, ListView)]
    assert {"service-request-list", "opportunity-list", "marketing-campaign-list", "faq-list"} <= set(lists)
    for name in lists:
        assert 200 == client.page(f"/v/{name}").status_code, name
    home = client.page("/v/customer-list").text
    for menu, view in [("customers", "customer-list"), ("service", "service-request-list"),
                       ("sales", "opportunity-list"), ("marketing", "marketing-campaign-list")]:
        assert f'href="/v/{view}" data-menu="{menu}"' in home


def test_a_request_made_in_its_form_gets_its_sla_and_shows_in_the_customers_360_view(crm):
    app, client = crm
    bom = app.services.get("bom")
    with bom.unit_of_work() as session:
        customer = bom.Customer(name="Ada Lovelace")
        session.add(customer)
        session.flush()
        key = customer.id
    client.page("/v/service-request-form/new")
    refused = client.post("/v/service-request-form/new", {"subject": "No power", "priority": "whenever",
                                                           "customer_id": str(key)})
    assert 422 == refused.status_code and "not one of the values low, normal, high, urgent" in refused.text
    made = client.post("/v/service-request-form/new", {"subject": "No power", "priority": "urgent",
                                                        "kind": "request", "customer_id": str(key)})
    assert 303 == made.status_code, made.text
    detail = client.page(made.headers["location"])
    assert "No power" in detail.text
    assert re.search(r'data-field="due">\d{4}-\d\d-\d\d \d\d:\d\d<', detail.text)  # the SLA's deadline
    whole = client.page(f"/v/customer-360/{key}").text
    assert 'data-collection="requests"' in whole and "No power" in whole

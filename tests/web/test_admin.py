"""The administrator's pages: services with health, replacing one while running (and a failed
replacement leaving the old one), the check findings, the access log; all refused to an agent."""

from __future__ import annotations

import re



def test_the_admin_sees_services_and_health(client):
    client.login("root", "root-password")
    page = client.page("/admin")
    assert 200 == page.status_code
    for name in ("storage", "bom", "web", "customers"):
        assert f'data-service="{name}"' in page.text


def test_a_failed_replacement_is_shown_and_the_old_service_stays(client, web_app):
    client.login("root", "root-password")
    client.page("/admin")
    before = web_app.services.info("customers").implementation
    response = client.post("/admin/services/customers/replace", {"implementation": "no_such_module:Thing"})
    assert 303 == response.status_code
    page = client.page(response.headers["location"])
    assert "no_such_module" in page.text and 'role="alert"' in page.text
    assert before == web_app.services.info("customers").implementation


def test_a_service_is_replaced_while_running(client, web_app):
    client.login("root", "root-password")
    client.page("/admin")
    response = client.post("/admin/services/customers/replace",
                           {"implementation": "caruso_customers.service:CustomersService"})
    page = client.page(response.headers["location"])
    assert "customers now runs" in page.text
    assert "active" == web_app.services.info("customers").state


def test_the_check_findings_and_the_access_log(client):
    client.login("root", "root-password")
    assert re.search(r"caruso\.toml: ok", client.page("/admin/check").text)
    log = client.page("/admin/log?event=login").text
    assert "<td>login</td><td>root</td>" in log


def test_an_agent_may_not_administer(client, web):
    client.login("anna", "anna-password")
    assert 403 == client.page("/admin").status_code
    response = client.post("/admin/services/customers/replace", {"implementation": "x:y"})
    assert 403 == response.status_code
    assert "denied" in [entry["event"] for entry in web.access.latest()]


def test_every_page_checks_login_permissions_and_csrf(web):
    """Every route of the front office goes through guard.guarded (static files and the
    mounted chat, which has its own checks, aside)."""
    from starlette.routing import Mount, Route

    pages = [route for route in web.asgi.routes if isinstance(route, Route)]
    assert pages and [] == [route.path for route in pages if not getattr(route.endpoint, "guarded", False)]
    assert {"static", "chat"} >= {route.name for route in web.asgi.routes if isinstance(route, Mount)}

"""The 360-degree view page: the customer with every collection and the contact history,
escaped everywhere, and hidden (404, logged) from a customer who asks for someone else."""

from __future__ import annotations


def _customers(web_app):
    bom = web_app.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        evil = bom.Customer(name="<script>alert(1)</script>", email="evil@example.com")
        other = bom.Customer(name="Ada Lovelace", email="ada@example.com")
        session.add_all([evil, other])
        session.flush()
        session.add(bom.Contact(name="<img src=x onerror=alert(2)>", customer_id=evil.id))
        keys = evil.id, other.id
    web_app.services.get("history").record(channel="email", direction="inbound", customer=keys[0],
                                           address="evil@example.com", subject="<b>bold</b> claim")
    return keys


def test_the_360_view_shows_everything_escaped(client, web_app):
    evil, _ = _customers(web_app)
    client.login("anna", "anna-password")
    page = client.page(f"/v/customer-360/{evil}")
    assert 200 == page.status_code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert "&lt;img src=x onerror=alert(2)&gt;" in page.text  # a contact, from the contacts collection
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in page.text      # the contact history
    fragment = client.page(f"/v/customer-360/{evil}?fragment=1")
    assert fragment.text.startswith("<section") and "<html" not in fragment.text


def test_a_customer_asking_for_another_customers_record_gets_404_and_it_is_logged(client, web_app, web):
    mine, theirs = _customers(web_app)
    web.users.add("eve", "eve-password", roles=["customer"], customer=mine)
    client.login("eve", "eve-password")
    assert 200 == client.page(f"/v/customer-360/{mine}").status_code
    refused = client.page(f"/v/customer-360/{theirs}")
    missing = client.page("/v/customer-360/999999")
    assert (404, 404) == (refused.status_code, missing.status_code)
    assert "Ada" not in refused.text
    logged = [(e["event"], e["user"], e["detail"]) for e in web.access.latest(event="not-found")]
    assert ("not-found", "eve", f"Customer {theirs}") in logged


def test_reading_customers_needs_the_permission(client, web):
    web.users.add("nobody", "nobody-password", roles=["no-such-role"])
    client.login("nobody", "nobody-password")
    assert 403 == client.page("/v/customer-360/1").status_code

"""Declared views: every business object is usable through its default list, detail and form;
view files replace and extend views; a view file that names what the model lacks is a
``caruso check`` error at its file and line; and the pages respect roles and record rules."""

from __future__ import annotations

import pytest

from caruso.errors import ServiceStartError, ViewDefinitionError
from caruso.testing import make_app, run_cli
from tests.web.conftest import DESCRIPTOR, Client


def _add_customers(web_app, *names, **values):
    bom = web_app.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        found = [bom.Customer(name=name, **values) for name in names]
        session.add_all(found)
        session.flush()
        return [c.id for c in found]


def test_every_object_has_a_default_list_detail_and_form(client, web_app):
    [key] = _add_customers(web_app, "Ada Lovelace")
    client.login("anna", "anna-password")
    assert "/v/contact-list" == client.page("/o/Contact").headers["location"]
    assert 200 == client.page("/v/contact-list").status_code
    form = client.page("/v/contact-form/new")
    assert 200 == form.status_code and 'name="customer_id"' in form.text
    created = client.post("/v/contact-form/new", {"name": "Grace", "phone": "+31201234567", "customer_id": str(key)})
    assert 303 == created.status_code
    detail = client.page(created.headers["location"])
    assert 200 == detail.status_code and "Grace" in detail.text
    customer = client.page(f"/o/Customer/{key}")
    assert f"/v/customer-detail/{key}" == customer.headers["location"]
    page = client.page(customer.headers["location"])
    assert 'data-collection="contacts"' in page.text and "Grace" in page.text


def test_a_form_refuses_a_bad_value_with_422_at_its_field_and_saves_nothing(client, web_app):
    [key] = _add_customers(web_app, "Ada Lovelace", phone="+31201234567")
    client.login("anna", "anna-password")
    client.page(f"/v/customer-form/{key}")
    response = client.post(f"/v/customer-form/{key}", {"name": "Ada L.", "phone": "0201234567", "kind": "person"})
    assert 422 == response.status_code
    assert "a phone number is written in E.164, like +31201234567" in response.text
    assert 'value="0201234567"' in response.text  # what was typed stays in the form
    assert "Ada Lovelace" in client.page(f"/v/customer-detail/{key}").text  # nothing saved, not even the name
    missing = client.post("/v/customer-form/new", {"name": "", "kind": "person"})
    assert 422 == missing.status_code and "required" in missing.text


def test_a_form_without_the_csrf_token_is_refused(client, web_app):
    [key] = _add_customers(web_app, "Ada Lovelace")
    client.login("anna", "anna-password")
    response = client.http.post(f"/v/customer-form/{key}", data={"name": "Mallory"})
    assert 403 == response.status_code
    assert "Ada Lovelace" in client.page(f"/v/customer-detail/{key}").text


def test_lists_search_filter_sort_and_page(client, web_app):
    _add_customers(web_app, *(f"Person {n:02}" for n in range(30)))
    _add_customers(web_app, "Vera VIP", segment="vip")
    client.login("anna", "anna-password")
    first = client.page("/v/customer-list")
    assert "31 found" in first.text and "Person 00" in first.text and "Person 29" not in first.text
    assert 'rel="next"' in first.text
    second = client.page("/v/customer-list?page=2")
    assert "Person 29" in second.text and "Person 00" not in second.text
    assert "1 found" in client.page("/v/customer-list?q=vera").text
    vip = client.page("/v/customer-list?segment=vip")
    assert "Vera VIP" in vip.text and "Person 01" not in vip.text
    descending = client.page("/v/customer-list?sort=-name")
    assert descending.text.index("Vera VIP") < descending.text.index("Person 29")
    assert 422 == client.page("/v/customer-list?kind=robot").status_code  # not one of the enum's values


def test_names_are_escaped_in_lists_details_and_forms(client, web_app):
    [key] = _add_customers(web_app, "<script>alert(1)</script>")
    client.login("anna", "anna-password")
    for path in ("/v/customer-list", f"/v/customer-detail/{key}", f"/v/customer-form/{key}", f"/v/customer-360/{key}"):
        text = client.page(path).text
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


def test_a_customer_lists_only_their_own_record_and_cannot_open_anothers(client, web_app, web):
    mine, theirs = _add_customers(web_app, "Eve Example", "Ada Lovelace")
    web.users.add("eve", "eve-password", roles=["customer"], customer=mine)
    client.login("eve", "eve-password")
    listed = client.page("/v/customer-list")
    assert "Eve Example" in listed.text and "Ada Lovelace" not in listed.text and "1 found" in listed.text
    assert 404 == client.page(f"/v/customer-detail/{theirs}").status_code
    assert 404 == client.page(f"/v/customer-form/{theirs}").status_code
    client.page(f"/v/customer-form/{mine}")
    moved = client.post(f"/v/customer-form/{theirs}", {"name": "Hijacked"})
    assert 404 == moved.status_code
    assert "Ada Lovelace" == _name(web_app, theirs)  # the record stays as it was
    logged = {(e["event"], e["detail"]) for e in web.access.latest(event="not-found")}
    assert ("not-found", f"Customer {theirs}") in logged


def _name(web_app, key):
    bom = web_app.services.get("bom")
    with bom.session() as session:
        return bom.Customer.get(session, key).name


def test_unknown_views_objects_and_keys_are_404(client):
    client.login("anna", "anna-password")
    assert 404 == client.page("/v/no-such-view").status_code
    assert 404 == client.page("/o/NoSuchObject").status_code
    assert 404 == client.page("/v/customer-detail/not-a-number").status_code


NARROW_ROLES = DESCRIPTOR + """
[services.web.settings.roles.clerk]
portal = "/"
views = ["customer-list"]
read = ["Customer"]
"""


@pytest.fixture
def clerk_client(tmp_path):
    app = make_app(tmp_path / "app", NARROW_ROLES.format(db=tmp_path / "crm.db"))
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("clerk", "clerk-password", roles=["clerk"])
    client = Client(web.asgi)
    client.login("clerk", "clerk-password")
    yield client, app
    client.http.close()
    app.stop()


def test_a_role_opens_only_the_views_and_writes_only_the_objects_it_is_given(clerk_client):
    client, app = clerk_client
    [key] = _add_customers(app, "Ada Lovelace")
    page = client.page("/v/customer-list")
    assert 200 == page.status_code and "Ada Lovelace" in page.text
    assert ">New<" not in page.text  # no write permission: no button...
    assert 403 == client.page(f"/v/customer-detail/{key}").status_code  # ...and the server refuses too
    assert 403 == client.page("/v/contact-list").status_code
    assert 403 == client.post("/v/customer-form/new", {"name": "X"}).status_code
    events = [e["event"] for e in app.services.get("web").access.latest(event="denied")]
    assert 3 == len(events)


PLUGIN = '''
from pathlib import Path
import caruso

@caruso.hookimpl
def register_views(app):
    return [Path(__file__).parent / "vip_views.xml"]
'''

VIP_VIEWS = """\
<views>
  <list name="vip-customers" object="Customer" title="VIP customers" sort="-name">
    <column attribute="name"/>
    <column attribute="segment"/>
  </list>
  <menu name="vip" label="VIP" order="30">
    <item view="vip-customers"/>
  </menu>
</views>
"""


def test_hook_register_views(tmp_path):
    """A plugin's view file joins the views, its menu appears, and `caruso check` checks it."""
    descriptor = DESCRIPTOR.format(db=tmp_path / "crm.db").replace(
        'enabled = ["customers"]', 'enabled = ["customers"]\nfolders = ["plugins"]')
    app = make_app(tmp_path / "app", descriptor, {"plugins/vip_plugin.py": PLUGIN,
                                                  "plugins/vip_views.xml": VIP_VIEWS})
    app.start()
    try:
        app.services.get("storage").upgrade()
        web = app.services.get("web")
        web.users.add("anna", "anna-password", roles=["agent"])
        client = Client(web.asgi)
        client.login("anna", "anna-password")
        page = client.page("/v/vip-customers")
        assert 200 == page.status_code and "VIP customers" in page.text
        assert 'href="/v/vip-customers" data-menu="vip"' in page.text
        client.http.close()
    finally:
        app.stop()
    (tmp_path / "app" / "plugins" / "vip_views.xml").write_text(VIP_VIEWS.replace('"segment"', '"segmnet"'))
    result = run_cli("check", str(tmp_path / "app"))
    assert 1 == result.exit_code
    assert ("vip_views.xml:4: <column attribute=\"segmnet\">: Customer has no attribute 'segmnet'"
            " (did you mean 'segment'?)") in result.output


@pytest.mark.parametrize("views, expected", [
    ('<list name="l" object="Custmer"><column attribute="name"/></list>',
     "2: <list name=\"l\">: no business object 'Custmer' (did you mean 'Customer'?)"),
    ('<detail name="d" object="Customer"><section><related collection="contacs"/></section></detail>',
     "2: <related collection=\"contacs\">: Customer has no collection 'contacs' (did you mean 'contacts'?)"),
    ('<list name="l" object="Customer" detail="customer-form"><column attribute="name"/></list>',
     "2: <list name=\"l\">: a row opens a detail view; 'customer-form' is a form view"),
    ('<menu name="m" label="M"><item view="customer-detail"/></menu>',
     "2: <item view=\"customer-detail\">: a menu item opens a list view; 'customer-detail' is a detail view"),
    ('<extend view="customer-lst"><column attribute="name"/></extend>',
     "2: <extend view=\"customer-lst\">: no view 'customer-lst' to extend (did you mean 'customer-list'?)"),
    ('<form name="f" object="Customer"><field attribute="id"/></form>',
     "2: <field attribute=\"id\">: Customer.id is generated by the database"),
    ('<composite name="c" object="Customer"><part kind="detail"/></composite>',
     '2: <part>: a detail part names the detail view it shows: view="..."'),
    ('<composite name="c" object="Contact"><part kind="history"/></composite>',
     "2: <part>: the contact history belongs to a Customer; this view shows Contact"),
    ('<list name="l" object="Customer"><search attributes="name"/><column attribute="name"/></list>',
     "breaks views.dtd: Element list content does not follow the DTD"),
    ('<list name="l" object="Customer" page-size="many"><column attribute="name"/></list>',
     "2: <list name=\"l\">: page-size='many' is not a whole number of 1 or more"),
])
def test_a_wrong_view_file_is_a_check_error_at_its_line_and_the_front_office_does_not_start(tmp_path, views, expected):
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"),
                   {"views/own.xml": f"<views>\n  {views}\n</views>\n"})
    problems = [str(p) for p in app.check()]
    assert any(expected in p and "views/own.xml" in p for p in problems), problems
    with pytest.raises(ServiceStartError) as failed:
        app.start()
    assert isinstance(failed.value.__cause__, ViewDefinitionError)


EXTENSIONS = {
    "views/own.xml": """\
        <views>
          <extend view="customer-list">
            <column attribute="language" label="Speaks"/>
          </extend>
          <extend view="customer-detail">
            <field attribute="created"/>
          </extend>
        </views>
        """,
    "models/cases.xml": """\
        <model>
          <object name="Case" table="case_file">
            <attribute name="id" type="integer" primary-key="yes"/>
            <attribute name="subject" type="string" length="200" required="yes"/>
            <reference name="customer" object="Customer" required="yes"/>
          </object>
          <extend object="Customer">
            <collection name="cases" object="Case" order-by="subject"/>
          </extend>
        </model>
        """,
}


def test_an_application_extends_views_and_a_new_collection_appears_in_the_360_view(tmp_path):
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"), EXTENSIONS)
    assert [] == app.check()
    app.start()
    try:
        app.services.get("storage").upgrade()
        [key] = _add_customers(app, "Ada Lovelace", language="nl")
        bom = app.services.get("bom")
        with bom.unit_of_work() as session:
            session.add(bom.Case(subject="Broken meter", customer_id=key))
        web = app.services.get("web")
        web.users.add("anna", "anna-password", roles=["agent"])
        client = Client(web.asgi)
        client.login("anna", "anna-password")
        listed = client.page("/v/customer-list").text
        assert "Speaks" in listed and ">nl<" in listed
        assert "Created" in client.page(f"/v/customer-detail/{key}").text
        whole = client.page(f"/v/customer-360/{key}").text
        assert 'data-collection="cases"' in whole and "Broken meter" in whole
        assert "/v/case-detail/" in whole  # the row opens the Case's default detail page
        client.http.close()
    finally:
        app.stop()

"""The JSON API (caruso/web/pages/api.py): tokens, permissions, CRUD through Records, the errors,
the OpenAPI document, and schemathesis fuzzing every operation against that document."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from caruso.testing import make_app
from tests.web.conftest import DESCRIPTOR

API_DESCRIPTOR = DESCRIPTOR + """
[services.web.settings.roles.api-customer]
read = ["Customer"]
write = ["Customer"]
actions = ["api"]
records = {{ Customer = {{ id = "customer" }} }}

[services.web.settings.roles.integration]
read = ["Customer"]
actions = ["api", "interactions"]

[services.communication.settings]
offer_timeout = 600

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.queues]]
name = "callback"
"""


@pytest.fixture
def api_app(tmp_path):
    """A started application with the customers plugin, queues and users of every API role."""
    app = make_app(tmp_path / "app", API_DESCRIPTOR.format(db=tmp_path / "crm.db"))
    app.start()
    app.services.get("storage").upgrade()
    users = app.services.get("web").users
    users.add("anna", "anna-password", roles=["agent"], agent="anna")
    users.add("root", "root-password", roles=["admin"])
    users.add("erp", "erp-password", roles=["integration"])
    yield app
    app.stop()


@pytest.fixture
def api_web(api_app):
    return api_app.services.get("web")


@pytest.fixture
def http(api_web):
    client = TestClient(api_web.asgi, base_url="http://front.test", follow_redirects=False)
    yield client
    client.close()


def bearer(web, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {web.users.issue_token(name)}"}


@pytest.fixture
def root(api_web):
    return bearer(api_web, "root")


def _customer(http, headers, **values):
    response = http.post("/api/objects/Customer", json={"name": "Ada", **values}, headers=headers)
    assert 201 == response.status_code, response.text
    return response.json()


# --- authentication and permissions -----------------------------------------------------


def test_no_token_is_401(http):
    """Without a token (or with a wrong one) every API call is 401, as JSON."""
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = http.get("/api/objects/Customer", headers=headers)
        assert 401 == response.status_code
        assert {"error": "log in first"} == response.json()


def test_role_without_api_is_403_and_logged(http, api_web):
    """An agent's token (a role without the action api) is refused with 403, logged as denied."""
    response = http.get("/api/objects", headers=bearer(api_web, "anna"))
    assert 403 == response.status_code
    assert "application/json" == response.headers["content-type"]
    assert "your role does not allow 'api'" == response.json()["error"]
    latest = api_web.access.latest(event="denied")[0]
    assert ("anna", "/api/objects") == (latest["user"], latest["path"])


def test_no_csrf_needed_with_a_token(http, root):
    """A bearer call writes without a CSRF token: no cookie is involved."""
    assert "Ada" == _customer(http, root)["name"]


def test_objects_lists_what_the_role_reads(http, api_web, root):
    """/api/objects lists the objects the caller may read, with fields, types and writability."""
    everything = http.get("/api/objects", headers=root).json()["items"]
    assert ["Customer", "Contact", "Address", "Task"] == [o["name"] for o in everything]
    customer = everything[0]
    assert ["id"] == customer["key"] and customer["writable"] is True
    fields = {f["name"]: f for f in customer["fields"]}
    assert ("string", 200, True) == (fields["name"]["type"], fields["name"]["length"], fields["name"]["required"])
    assert ["person", "organisation"] == fields["kind"]["values"]
    assert ["contacts", "addresses", "tasks"] == customer["collections"]

    erp = http.get("/api/objects", headers=bearer(api_web, "erp")).json()["items"]
    assert [("Customer", False)] == [(o["name"], o["writable"]) for o in erp]


def test_read_only_role_cannot_write(http, api_web, root):
    """A role that reads but does not write Customer gets 403 on POST, PATCH and DELETE."""
    ada = _customer(http, root)
    erp = bearer(api_web, "erp")
    assert 200 == http.get(f"/api/objects/Customer/{ada['id']}", headers=erp).status_code
    assert 403 == http.post("/api/objects/Customer", json={"name": "Bo"}, headers=erp).status_code
    assert 403 == http.patch(f"/api/objects/Customer/{ada['id']}", json={"name": "Bo"}, headers=erp).status_code
    assert 403 == http.delete(f"/api/objects/Customer/{ada['id']}", headers=erp).status_code
    assert 403 == http.get("/api/objects/Contact", headers=erp).status_code


# --- CRUD ------------------------------------------------------------------------------------


def test_crud_on_customer(http, root):
    """Create (201 + Location), read, list with filters and search, change, delete."""
    response = http.post("/api/objects/Customer", json={"name": "Ada Lovelace", "phone": "+31201234567",
                                                        "segment": "vip"}, headers=root)
    assert 201 == response.status_code
    ada = response.json()
    assert f"/api/objects/Customer/{ada['id']}" == response.headers["location"]
    assert ("Ada Lovelace", "person", "vip") == (ada["name"], ada["kind"], ada["segment"])
    assert ada["created"].endswith("+00:00")
    _customer(http, root, name="Bob")

    assert ada == http.get(response.headers["location"], headers=root).json()
    page = http.get("/api/objects/Customer", params={"segment": "vip"}, headers=root).json()
    assert (1, ["Ada Lovelace"]) == (page["total"], [c["name"] for c in page["items"]])
    page = http.get("/api/objects/Customer", params={"q": "LOVE"}, headers=root).json()
    assert ["Ada Lovelace"] == [c["name"] for c in page["items"]]
    page = http.get("/api/objects/Customer", params={"sort": "-name", "limit": "1"}, headers=root).json()
    assert ({"total": 2, "offset": 0, "limit": 1}, ["Bob"]) == (
        {k: page[k] for k in ("total", "offset", "limit")}, [c["name"] for c in page["items"]])

    changed = http.patch(response.headers["location"], json={"segment": "business"}, headers=root)
    assert (200, "business") == (changed.status_code, changed.json()["segment"])
    assert 204 == http.delete(response.headers["location"], headers=root).status_code
    assert 404 == http.get(response.headers["location"], headers=root).status_code


def test_related_collection(http, root):
    """/api/objects/Customer/KEY/contacts lists the customer's contacts; an unknown one is 404."""
    ada = _customer(http, root)
    contact = http.post("/api/objects/Contact", json={"name": "Charles", "customer_id": ada["id"]}, headers=root)
    assert 201 == contact.status_code, contact.text
    orphan = http.post("/api/objects/Contact", json={"name": "Nobody's", "customer_id": 999}, headers=root)
    assert 422 == orphan.status_code  # the database's foreign key, answered as a refused value
    assert "refers to a Customer that does not exist" in orphan.json()["error"]
    found = http.get(f"/api/objects/Customer/{ada['id']}/contacts", headers=root).json()
    assert ["Charles"] == [c["name"] for c in found["items"]]
    missing = http.get(f"/api/objects/Customer/{ada['id']}/friends", headers=root)
    assert 404 == missing.status_code
    assert "Customer has no collection 'friends' (its collections: contacts, addresses, tasks)" == \
        missing.json()["error"]


def test_bad_phone_is_422_naming_the_field_and_nothing_saved(http, root):
    """A phone not in E.164 is refused with 422 naming the field; no customer is saved."""
    response = http.post("/api/objects/Customer", json={"name": "Ada", "phone": "020 123"}, headers=root)
    assert 422 == response.status_code
    assert {"phone": "a phone number is written in E.164, like +31201234567"} == response.json()["fields"]
    assert 0 == http.get("/api/objects/Customer", headers=root).json()["total"]

    ada = _customer(http, root, phone="+31201234567")
    response = http.patch(f"/api/objects/Customer/{ada['id']}", json={"phone": "nope"}, headers=root)
    assert 422 == response.status_code and "phone" in response.json()["fields"]
    assert "+31201234567" == http.get(f"/api/objects/Customer/{ada['id']}", headers=root).json()["phone"]


def test_script_in_a_name_comes_back_verbatim_as_json(http, root):
    """API answers are JSON, never HTML: markup in a value is returned exactly as written."""
    ada = _customer(http, root, name="<script>alert(1)</script>")
    response = http.get(f"/api/objects/Customer/{ada['id']}", headers=root)
    assert "application/json" == response.headers["content-type"]
    assert "<script>alert(1)</script>" == response.json()["name"]
    assert "&lt;" not in response.text


# --- record rules ---------------------------------------------------------------------------


def test_customer_token_sees_only_their_own_record(http, api_web, root):
    """A customer's token reads their own Customer; another customer's is 404, logged as not-found."""
    mine, theirs = _customer(http, root, name="Mine"), _customer(http, root, name="Theirs")
    api_web.users.add("jan", "jan-password", roles=["api-customer"], customer=mine["id"])
    jan = bearer(api_web, "jan")
    assert "Mine" == http.get(f"/api/objects/Customer/{mine['id']}", headers=jan).json()["name"]
    response = http.get(f"/api/objects/Customer/{theirs['id']}", headers=jan)
    assert (404, {"error": "not found"}) == (response.status_code, response.json())
    latest = api_web.access.latest()[0]
    assert ("not-found", "jan", f"Customer {theirs['id']}") == (latest["event"], latest["user"], latest["detail"])
    assert ["Mine"] == [c["name"] for c in http.get("/api/objects/Customer", headers=jan).json()["items"]]
    assert 404 == http.patch(f"/api/objects/Customer/{theirs['id']}", json={"name": "x"}, headers=jan).status_code
    assert "Theirs" == http.get(f"/api/objects/Customer/{theirs['id']}", headers=root).json()["name"]


# --- errors -----------------------------------------------------------------------------------


def test_error_answers(http, api_web, root):
    """Unknown object 404, bad JSON 400, non-object 422, unknown attribute 422, too large 413."""
    unknown = http.get("/api/objects/Planet", headers=root)
    assert (404, {"error": "not found"}) == (unknown.status_code, unknown.json())
    assert "business object Planet" == api_web.access.latest(event="not-found")[0]["detail"]

    bad = http.post("/api/objects/Customer", content=b"{name: 1", headers={**root, "Content-Type": "application/json"})
    assert 400 == bad.status_code
    assert bad.json()["error"].startswith("the request body is not valid JSON: ")

    listed = http.post("/api/objects/Customer", json=["Ada"], headers=root)
    assert 422 == listed.status_code
    assert ('the request body must be a JSON object ({"attribute": value, ...}), not an array'
            == listed.json()["error"])

    typo = http.post("/api/objects/Customer", json={"name": "Ada", "nmae": "x"}, headers=root)
    assert 422 == typo.status_code
    assert "nmae" in typo.json()["fields"] and "no such attribute" in typo.json()["fields"]["nmae"]
    assert 0 == http.get("/api/objects/Customer", headers=root).json()["total"]

    filtered = http.get("/api/objects/Customer", params={"colour": "red", "limit": "x"}, headers=root)
    assert 422 == filtered.status_code
    assert {"colour", "limit"} == set(filtered.json()["fields"])
    unsorted = http.get("/api/objects/Customer", params={"sort": "-nmae"}, headers=root)
    assert {"sort": "no attribute 'nmae' to sort by (did you mean 'name'?)"} == unsorted.json()["fields"]

    wrong_type = http.post("/api/objects/Customer", json={"name": ["Ada"]}, headers=root)
    assert (422, "is an array; expected text") == (wrong_type.status_code, wrong_type.json()["fields"]["name"])

    too_large = http.post("/api/objects/Customer", content=b"x" * (api_web.config.max_body + 1),
                          headers={**root, "Content-Type": "application/json"})
    assert 413 == too_large.status_code

    huge_key = http.get(f"/api/objects/Customer/{10**30}", headers=root)
    assert 404 == huge_key.status_code
    assert 404 == http.get("/api/nothing-here", headers=root).status_code


# --- interactions -----------------------------------------------------------------------------


def test_interactions_offer_list_and_read(http, api_web):
    """An integration offers a web callback request; it waits in its queue and can be read."""
    erp = bearer(api_web, "erp")
    response = http.post("/api/interactions", json={"channel": "callback", "queue": "callback",
                                                    "address": "+31201234567", "subject": "call me back"},
                         headers=erp)
    assert 201 == response.status_code, response.text
    offered = response.json()
    assert f"/api/interactions/{offered['id']}" == response.headers["location"]
    assert ("callback", "callback", "call me back") == (offered["channel"], offered["queue"], offered["subject"])

    waiting = http.get("/api/interactions", headers=erp).json()["items"]
    assert [offered["id"]] == [i["id"] for i in waiting]
    assert [] == http.get("/api/interactions", params={"queue": "support"}, headers=erp).json()["items"]
    assert [offered["id"]] == [i["id"] for i in
                               http.get("/api/interactions", params={"state": "open"}, headers=erp).json()["items"]]
    assert offered["id"] == http.get(response.headers["location"], headers=erp).json()["id"]


def test_interaction_errors(http, api_web, root):
    """Unknown channel, queue or field: 422 naming it; unknown id: 404; a role without the action: 403."""
    unknown = http.post("/api/interactions", json={"channel": "pigeon"}, headers=root)
    assert 422 == unknown.status_code and "channel" in unknown.json()["fields"]
    queue = http.post("/api/interactions", json={"channel": "email", "queue": "nowhere"}, headers=root)
    assert 422 == queue.status_code and "no queue 'nowhere'" in queue.json()["fields"]["queue"]
    extra = http.post("/api/interactions", json={"channel": "email", "colour": "red"}, headers=root)
    assert 422 == extra.status_code and "colour" in extra.json()["fields"]
    assert 404 == http.get("/api/interactions/nope", headers=root).status_code
    huge = http.post("/api/interactions", json={"channel": "email", "data": {"n": 2**64}}, headers=root)
    assert 201 == huge.status_code and 2**64 == huge.json()["data"]["n"]  # the event log writes it too
    array = http.post("/api/interactions", json={"channel": "email", "data": [1]}, headers=root)
    assert 422 == array.status_code and "expected a JSON object" in array.json()["fields"]["data"]

    api_web.users.add("jan", "jan-password", roles=["api-customer"], customer=1)
    refused = http.get("/api/interactions", headers=bearer(api_web, "jan"))
    assert 403 == refused.status_code
    assert "denied" == api_web.access.latest()[0]["event"]


# --- the OpenAPI document ---------------------------------------------------------------------


def test_openapi_document_is_valid_and_follows_the_caller(http, api_web, root):
    """The document validates against the OpenAPI 3.0 schema and holds only what the caller reads."""
    document = http.get("/api/openapi.json", headers=root).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # raises when the document is not valid OpenAPI
    customer = document["components"]["schemas"]["Customer"]["properties"]
    assert {"type": "string", "maxLength": 200} == customer["name"]
    assert {"type": "string", "enum": ["person", "organisation"], "nullable": True} == customer["kind"]
    assert "date-time" == customer["created"]["format"]
    assert {"type": "http", "scheme": "bearer"} == {
        k: v for k, v in document["components"]["securitySchemes"]["bearer"].items() if k != "description"}
    customer_paths = document["paths"]["/api/objects/Customer/{key}"]
    assert {"401", "403", "404", "413", "422"} <= set(customer_paths["patch"]["responses"])

    erp = http.get("/api/openapi.json", headers=bearer(api_web, "erp")).json()
    schemathesis.openapi.from_dict(erp).validate()
    assert not any(name.startswith("Contact") for name in erp["components"]["schemas"])
    assert {"get"} == set(erp["paths"]["/api/objects/Customer"])  # reads, does not write
    assert 401 == http.get("/api/openapi.json").status_code


def test_attribute_types_in_the_document():
    """Each model type becomes its OpenAPI schema; an attribute that is not required is nullable."""
    from caruso.web.pages.api import _property
    from caruso.web.records import Field

    expected = {
        "decimal": {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "nullable": True},
        "date": {"type": "string", "format": "date", "nullable": True},
        "boolean": {"type": "boolean", "nullable": True},
        "json": {"type": "object", "nullable": True},
        "text": {"type": "string", "nullable": True},
    }
    assert expected == {kind: _property(Field("x", kind), bounds=True) for kind in expected}
    assert {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1} == _property(
        Field("n", "integer", required=True), bounds=True)


def test_interaction_data_is_made_json():
    """What travels with an interaction is answered as JSON: a recording's bytes by their size."""
    from caruso.web.pages.api import _jsonable

    assert {"audio": {"bytes": 3}, "at": "2026-12-03", "x": None, "t": [1, "a"]} == _jsonable(
        {"audio": b"abc", "at": __import__("datetime").date(2026, 12, 3), "x": float("nan"), "t": (1, "a")})


# --- fuzzing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_web(tmp_path_factory):
    """One application for every fuzzed operation (starting one per operation would be slow),
    with a few customers in the database for the fuzzer to find."""
    folder = tmp_path_factory.mktemp("fuzz")
    app = make_app(folder / "app", API_DESCRIPTOR.format(db=folder / "crm.db"))
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("root", "root-password", roles=["admin"])
    fuzz = SimpleNamespace(web=web, headers=bearer(web, "root"))
    with TestClient(web.asgi, base_url="http://front.test") as client:
        for name in ("Ada", "Bob", "Cy"):
            _customer(client, fuzz.headers, name=name)
    yield fuzz
    app.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_web):
    """The API's own OpenAPI document, loaded by schemathesis from the ASGI application."""
    return schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_web.web.asgi, headers=fuzz_web.headers)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_api_never_fails(api_schema, fuzz_web, mode):
    """Every operation, fed schemathesis' generated input (valid, then invalid), answers as its
    document says - documented status, content type and body - and never with a server error.

    The operations are run one by one here rather than by ``schema.parametrize()``, whose lazy
    fixture loader does not work with pytest 9 (it writes ``Function._nodeid``)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers=fuzz_web.headers, checks=CHECKS)

        fuzz()

"""The front office's defences, fed the bad input the issue names: a forged or missing CSRF
token, a tampered session cookie, an oversized form, too many failed logins, a logout that
must end the session for good - each answered clearly and written to the access log."""

from __future__ import annotations

import pytest

from caruso.errors import WebError
from caruso.web.security import COOKIE


def events(web):
    return [(entry["event"], entry["user"]) for entry in reversed(web.access.latest())]


def test_login_lands_on_the_roles_portal_and_is_logged(client, web):
    response = client.login("anna", "anna-password")
    assert 303 == response.status_code and "/" == response.headers["location"]
    assert "/desktop" == client.page("/").headers["location"]
    assert ("login", "anna") in events(web)


def test_a_wrong_password_is_refused_and_logged(client, web):
    response = client.login("anna", "not-her-password")
    assert 401 == response.status_code
    assert "The name or the password is wrong." in response.text
    assert "/login?next=/" == client.page("/").headers["location"]
    assert ("login-failed", "anna") in events(web)


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(client, web, token):
    client.page("/login")
    data = {"name": "anna", "password": "anna-password"}
    if token is not None:
        data["csrf_token"] = token
    response = client.http.post("/login", data=data)
    assert 403 == response.status_code
    assert "security token is missing or wrong" in response.text
    assert "/login?next=/" == client.page("/").headers["location"]  # not logged in
    assert ("csrf-refused", None) in events(web)


def test_a_tampered_session_cookie_logs_out_and_is_logged(client, web):
    client.login("anna", "anna-password")
    genuine = client.http.cookies[COOKIE]
    client.http.cookies.set(COOKIE, genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"))
    response = client.page("/")
    assert 303 == response.status_code and response.headers["location"].startswith("/login")
    assert ("session-tampered", None) in events(web)


def test_the_session_cookie_is_httponly_and_samesite(client):
    response = client.page("/login")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_a_tls_proxy_the_cookie_is_secure(web):
    from starlette.testclient import TestClient

    with TestClient(web.asgi, base_url="https://front.test") as https:
        assert "Secure" in https.get("/login").headers["set-cookie"]


def test_an_oversized_form_is_refused_with_413_before_it_is_read(client, web):
    client.page("/login")
    big = "x" * (web.config.max_body + 1)
    response = client.post("/login", {"name": "anna", "password": big})
    assert 413 == response.status_code
    assert "/login?next=/" == client.page("/").headers["location"]


def test_logins_are_throttled_after_repeated_failures(client, web):
    for _ in range(web.config.login_attempts):
        assert 401 == client.login("anna", "guess-guess").status_code
    response = client.login("anna", "anna-password")  # even the right password waits
    assert 429 == response.status_code
    assert int(response.headers["retry-after"]) > 0
    assert ("login-throttled", "anna") in events(web)


def test_logout_ends_the_session_on_the_server(client):
    client.login("anna", "anna-password")
    cookie = client.http.cookies[COOKIE]
    assert 303 == client.post("/logout").status_code
    client.http.cookies.set(COOKIE, cookie)  # replaying the old cookie does not log back in
    assert client.page("/").headers["location"].startswith("/login")


def test_next_after_login_stays_on_the_site(client):
    client.page("/login")
    response = client.post("/login", {"name": "anna", "password": "anna-password", "next": "//evil.example/"})
    assert "/" == response.headers["location"]


def test_a_page_needing_an_action_the_role_lacks_is_refused_and_logged(client, web):
    from starlette.routing import Route

    from caruso.web.guard import guarded

    @guarded(action="admin")
    async def admin_only(request):  # pragma: no cover - never reached by the agent
        raise AssertionError

    web.asgi.router.routes.insert(0, Route("/only-admins", admin_only))
    client.login("anna", "anna-password")
    response = client.page("/only-admins")
    assert 403 == response.status_code and "your role does not allow 'admin'" in response.text
    assert ("denied", "anna") in events(web)


def test_passwords_are_kept_as_argon2_hashes(web):
    import sqlalchemy as sa

    with web.storage.engine.connect() as connection:
        stored = connection.execute(sa.select(web.user_table.c.password)
                                    .where(web.user_table.c.name == "anna")).scalar_one()
    assert stored.startswith("$argon2id$") and "anna-password" not in stored


def test_users_refuse_a_taken_name_and_a_short_password(web):
    with pytest.raises(WebError, match="exists already"):
        web.users.add("anna", "another-password", roles=["agent"])
    with pytest.raises(WebError, match="at least 8 characters"):
        web.users.add("bram", "short", roles=["agent"])
    assert web.users.get("bram") is None


def test_an_api_token_authenticates_without_a_cookie_and_needs_no_csrf(web):
    from starlette.testclient import TestClient

    token = web.users.issue_token("root")
    assert web.users.for_token(token).name == "root"
    assert web.users.for_token(token + "x") is None
    with TestClient(web.asgi, follow_redirects=False) as http:
        assert 303 == http.get("/", headers={"Authorization": f"Bearer {token}"}).status_code
        assert "/admin" == http.get("/", headers={"Authorization": f"Bearer {token}"}).headers["location"]


def test_cookie_less_api_calls_and_static_files_leave_no_session_behind(client, web):
    before = len(web.sessions)
    for _ in range(20):
        assert "set-cookie" not in client.http.get("/static/caruso.css").headers
        client.http.get("/api/no-such-endpoint")
        client.http.cookies.clear()
    assert before == len(web.sessions)
    client.page("/login")  # a page does need one: its form carries the session's CSRF token
    assert before + 1 == len(web.sessions)

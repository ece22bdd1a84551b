"""The managed-login pages: a plain login form (HTTP client and headless browser), logout, error."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest
from playwright.sync_api import Route, sync_playwright


class Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str]] = {}
        self.labels: set[str] = set()
        self.buttons: list[dict[str, str]] = []
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "input":
            self.inputs[attributes["name"]] = attributes
        elif tag == "label":
            self.labels.add(attributes["for"])
        elif tag == "button":
            self.buttons.append(attributes)
        elif tag == "form":
            self.forms.append(attributes)


def login_page(flow, client, **params):
    response = flow.http.get(flow.authorize_url(client, **params), follow_redirects=True)
    page = Inputs()
    page.feed(response.text)
    return response, page


def post_login(flow, response, page, username, password, csrf=None):
    fields = {
        "_csrf": page.inputs["_csrf"]["value"] if csrf is None else csrf,
        "username": username,
        "password": password,
    }
    action = page.forms[0]["action"]
    return flow.http.post(f"{flow.pool.domain}{action}", data=fields, follow_redirects=False)


def test_login_page_is_a_plain_accessible_form(flow):
    response, page = login_page(flow, flow.client())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert page.forms[0]["method"] == "post"
    assert page.inputs["username"]["type"] == "text"
    assert page.inputs["password"]["type"] == "password"
    assert page.inputs["_csrf"]["type"] == "hidden"
    assert {"username", "password"} <= page.labels
    assert page.buttons[0]["type"] == "submit"
    assert "<script" not in response.text
    assert flow.http.cookies.get("XSRF-TOKEN") == page.inputs["_csrf"]["value"]


def test_login_hint_prefills_the_username_escaped(flow):
    _, page = login_page(flow, flow.client(), login_hint='demo"><script>')
    assert page.inputs["username"]["value"] == 'demo"><script>'


def test_right_password_redirects_with_code_and_state(flow):
    response, page = login_page(flow, flow.client())
    result = post_login(flow, response, page, "demo", flow.PASSWORD)
    assert result.status_code == 302
    location = result.headers["location"]
    assert location.startswith(flow.CALLBACK + "?")
    params = flow.query(location)
    assert set(params) == {"code", "state"}
    assert params["state"] == "the-state"
    assert "cognito" in result.cookies


@pytest.mark.parametrize(
    ("username", "password"), [("demo", "wrong-password"), ("nobody", "a-password")]
)
def test_wrong_credentials_show_the_form_again_without_redirect(flow, username, password):
    response, page = login_page(flow, flow.client())
    result = post_login(flow, response, page, username, password)
    assert result.status_code == 400
    assert "location" not in result.headers
    assert "Incorrect username or password." in result.text
    again = Inputs()
    again.feed(result.text)
    assert again.inputs["username"]["value"] == username
    assert again.inputs["password"].get("value", "") == ""


def test_user_who_must_change_password_cannot_sign_in(flow):
    flow.idp.admin_create_user(
        UserPoolId=flow.pool.pool_id,
        Username="newcomer",
        TemporaryPassword=flow.PASSWORD,
        MessageAction="SUPPRESS",
    )
    response, page = login_page(flow, flow.client())
    assert post_login(flow, response, page, "newcomer", flow.PASSWORD).status_code == 400


def test_post_without_matching_csrf_is_refused(flow):
    response, page = login_page(flow, flow.client())
    result = post_login(flow, response, page, "demo", flow.PASSWORD, csrf="forged")
    assert result.status_code == 400
    assert "location" not in result.headers


def test_login_with_a_bad_request_gets_the_same_refusals_as_authorize(flow):
    client = flow.client()
    query = flow.authorize_url(client, redirect_uri="https://evil.example/cb").split("?", 1)[1]
    response = flow.http.get(f"{flow.pool.domain}/login?{query}", follow_redirects=False)
    assert response.headers["location"].startswith("/error?error=redirect_mismatch")


def test_logout_ends_the_session_and_redirects_to_a_sign_out_url(flow):
    client = flow.client(LogoutURLs=["http://127.0.0.1:8000/signed-out"])
    flow.code(client)
    response = flow.http.get(
        f"{flow.pool.domain}/logout",
        params={"client_id": client["ClientId"], "logout_uri": "http://127.0.0.1:8000/signed-out"},
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1:8000/signed-out"
    silent = flow.http.get(flow.authorize_url(client, prompt="none"), follow_redirects=False)
    assert flow.query(silent.headers["location"])["error"] == "login_required"


def test_logout_with_an_unregistered_uri_gets_the_error_page(flow):
    client = flow.client()
    response = flow.http.get(
        f"{flow.pool.domain}/logout",
        params={"client_id": client["ClientId"], "logout_uri": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"].startswith("/error?")


def test_logout_with_redirect_uri_goes_back_to_login(flow):
    client = flow.client()
    query = flow.authorize_url(client).split("?", 1)[1]
    response = flow.http.get(f"{flow.pool.domain}/logout?{query}", follow_redirects=False)
    assert response.headers["location"].startswith("/login?")


def test_error_page_escapes_its_parameter(flow):
    response = flow.http.get(f"{flow.pool.domain}/error", params={"error": "<b>x</b>"})
    assert response.status_code == 400
    assert "<b>x</b>" not in response.text


def test_headless_browser_can_sign_in(flow):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is required (bash .ci/run installs it)"
    client = flow.client()
    verifier, challenge = flow.pkce()
    url = flow.authorize_url(client, code_challenge=challenge, code_challenge_method="S256")
    arrived: list[str] = []

    def callback(route: Route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, body="signed in")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.route(re.compile(re.escape(flow.CALLBACK) + r"\?.*"), callback)
            page.goto(url)
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill(flow.PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(re.escape(flow.CALLBACK) + r"\?.*"))
        finally:
            browser.close()
    params = flow.query(arrived[0])
    assert params["state"] == "the-state"
    assert flow.exchange(client, params["code"], verifier).status_code == 200

"""The httpx sign-in helper walks the managed login like a browser, stopping at its edge."""

from __future__ import annotations

from devstack.cognito.browser import sign_in


def test_sign_in_returns_the_redirect_to_the_client(flow):
    response = sign_in(flow.http, flow.authorize_url(flow.client()), "demo", flow.PASSWORD)
    assert response.status_code == 302
    assert response.headers["location"].startswith(flow.CALLBACK + "?code=")


def test_wrong_password_returns_the_form_again(flow):
    response = sign_in(flow.http, flow.authorize_url(flow.client()), "demo", "wrong-password")
    assert response.status_code == 400
    assert 'name="password"' in response.text


def test_refused_request_returns_the_error_page(flow):
    url = flow.authorize_url(flow.client(), redirect_uri="https://evil.example/cb")
    response = sign_in(flow.http, url, "demo", flow.PASSWORD)
    assert response.status_code == 400
    assert "An error was encountered" in response.text


def test_existing_session_skips_the_form(flow):
    client = flow.client()
    sign_in(flow.http, flow.authorize_url(client), "demo", flow.PASSWORD)
    response = sign_in(flow.http, flow.authorize_url(client), "demo", "not-even-checked")
    assert response.headers["location"].startswith(flow.CALLBACK + "?code=")

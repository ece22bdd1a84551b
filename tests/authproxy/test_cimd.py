"""Client ID Metadata Documents: a client whose client_id is the URL of its own metadata."""

import http.server
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from authproxy.cimd import (
    FETCH_TIMEOUT,
    MetadataDocumentError,
    MetadataDocuments,
    check_url,
    is_metadata_url,
    parse_document,
)
from authproxy.settings import Settings
from support.oauth import authorize_url, pkce, query, token_request
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:7777/callback"


@dataclass
class DocumentServer:
    """Serves one client metadata document on loopback and counts the fetches."""

    status: int = 200
    document: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    fetches: int = 0
    url: str = ""
    #: Send the body behind 2000 spaces, a byte every 50 ms (100 s), until the client hangs up.
    trickle: bool = False


@pytest.fixture
def documents() -> Iterator[DocumentServer]:
    served = DocumentServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            body = json.dumps(served.document).encode()
            if served.trickle:
                body = b" " * 2000 + body
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in served.headers.items():
                self.send_header(name, value)
            self.end_headers()
            chunks = [body[i : i + 1] for i in range(len(body))] if served.trickle else [body]
            for chunk in chunks:
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:  # the façade hung up
                    return
                if served.trickle:
                    time.sleep(0.05)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_port}/oauth/client-metadata.json"
    served.document = {
        "client_id": served.url,
        "client_name": "Metadata Document Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with local_stack(tmp_path, env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"}) as running:
        yield running


def test_metadata_advertises_cimd(stack: Stack) -> None:
    document = httpx.get(f"{stack.issuer}/.well-known/oauth-authorization-server").json()
    assert document["client_id_metadata_document_supported"] is True
    assert "none" in document["token_endpoint_auth_methods_supported"]


def test_a_metadata_document_client_signs_in_and_gets_tokens(
    stack: Stack, documents: DocumentServer
) -> None:
    verifier, challenge = pkce()
    person = stack.person()
    callback = person.sign_in(authorize_url(stack.issuer, documents.url, REDIRECT, challenge))
    assert person.pages_seen == ["consent", "login"]
    code = query(callback)["code"]
    response = token_request(
        stack.issuer,
        {"client_id": documents.url},
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )
    assert response.status_code == 200, response.text
    # Cached: the second sign-in does not fetch again, and reuses the same registration.
    person.sign_in(authorize_url(stack.issuer, documents.url, REDIRECT, challenge))
    assert documents.fetches == 1


def test_consent_names_the_document_client(stack: Stack, documents: DocumentServer) -> None:
    page = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert page.status_code == 200
    assert "Metadata Document Client" in page.text
    assert "localhost" in page.text


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": 404}, "answered 404"),
        ({"status": 302, "headers": {"Location": "https://example.com/other"}}, "answered 302"),
        ({"document": {"client_id": "https://other.example/doc"}}, "differs from its URL"),
        ({"document": {"client_name": ""}}, "no client_name"),
        ({"document": {"token_endpoint_auth_method": "client_secret_post"}}, "not supported"),
        ({"document": {"redirect_uris": ["javascript:alert(1)"]}}, "not acceptable"),
        ({"document": {"padding": "x" * 6000}}, "larger than"),
    ],
)
def test_unusable_documents_are_an_error_page(
    stack: Stack, documents: DocumentServer, change: dict, why: str
) -> None:
    documents.status = change.get("status", 200)
    documents.headers = change.get("headers", {})
    documents.document = {**documents.document, **change.get("document", {})}
    response = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert why in response.text


def test_mcp_ssrf_a_trickling_document_host_cannot_hold_authorize(
    stack: Stack, documents: DocumentServer
) -> None:
    """Each byte arrives well inside any per-read timeout; the whole fetch has one deadline, and
    /authorize answers once it passes (before, it waited the 100 s out and went on)."""
    documents.trickle = True
    response = httpx.get(
        authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]), timeout=300
    )
    assert response.status_code == 400
    assert f"not fetched within {FETCH_TIMEOUT:g} seconds" in response.text


def test_redirect_not_in_the_document_is_refused(stack: Stack, documents: DocumentServer) -> None:
    url = authorize_url(stack.issuer, documents.url, "https://attacker.example/cb", pkce()[1])
    response = httpx.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_stored_copy_keeps_the_client_working_when_the_host_fails(
    stack: Stack, documents: DocumentServer
) -> None:
    documents.headers = {"Cache-Control": "no-store"}
    first = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert first.status_code == 200
    documents.status = 503
    second = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert second.status_code == 200
    assert documents.fetches == 2


# The URL rules and the server-side request forgery guard, without loopback allowed.


@pytest.mark.parametrize(
    "url",
    [
        "http://client.example/doc",
        "https://client.example",
        "https://client.example/",
        "https://user@client.example/doc",
        "https://client.example/a/../doc",
        "https://client.example/doc#frag",
    ],
)
def test_bad_metadata_urls(url: str) -> None:
    with pytest.raises(MetadataDocumentError):
        check_url(url, allow_loopback=False)


def test_only_urls_with_a_path_are_metadata_documents() -> None:
    assert is_metadata_url("https://claude.ai/oauth/mcp-oauth-client-metadata")
    assert not is_metadata_url("https://claude.ai")
    assert not is_metadata_url("a-registered-client-id")
    assert not is_metadata_url("http://127.0.0.1:9/doc")
    assert is_metadata_url("http://127.0.0.1:9/doc", allow_loopback=True)


# `authproxy dev` admits loopback documents (it serves Claude's and VS Code's there, see
# devstack.client_hosts); loopback, like every special-purpose range, is refused by default
# (tests/attacks/test_cimd_ssrf.py).
@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/client.json",
        "https://192.168.1.1/client.json",
    ],
)
def test_private_addresses_are_never_fetched(dev: Stack, url: str) -> None:
    response = httpx.get(authorize_url(dev.issuer, url, REDIRECT, pkce()[1]))
    assert response.status_code == 400
    assert "non-public address" in response.text


def test_parse_document_requires_the_url_as_client_id() -> None:
    settings = Settings.from_env(
        {
            "ISSUER": "https://mcp.example.com",
            "USER_POOL_ID": "us-east-1_abc",
            "COGNITO_DOMAIN": "https://auth.example.com",
            "AUTHPROXY_SECRET_KEY": "k" * 40,
            "AUTHPROXY_RESOURCES": '[{"resource": "https://mcp.example.com/mcp"}]',
        }
    )
    url = "https://client.example/doc"
    good = {"client_id": url, "client_name": "C", "redirect_uris": ["https://client.example/cb"]}
    assert parse_document(url, json.dumps(good).encode(), settings)["client_name"] == "C"
    for bad in (b"not json", b"[]", json.dumps({**good, "client_id": url + "x"}).encode()):
        with pytest.raises(MetadataDocumentError):
            parse_document(url, bad, settings)


def test_an_expired_unused_registration_is_registered_afresh(
    stack: Stack, documents: DocumentServer
) -> None:
    first = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert first.status_code == 200
    path = stack["AUTHPROXY_STORE"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:  # as if it had sat unused past its expiry
        db.execute("UPDATE registrations SET data = json_set(data, '$.expires_at', 1)")
    again = httpx.get(authorize_url(stack.issuer, documents.url, REDIRECT, pkce()[1]))
    assert again.status_code == 200
    assert "Metadata Document Client" in again.text


async def test_the_fetch_connects_to_the_address_it_checked() -> None:
    """Resolve once, check, connect there: a second DNS answer (rebinding) is never used."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = "http://localhost:8080/oauth/client.json"
        return httpx.Response(
            200, json={"client_id": url, "client_name": "C", "redirect_uris": [REDIRECT]}
        )

    settings = Settings.from_env(
        {
            "ISSUER": "https://mcp.example.com",
            "USER_POOL_ID": "us-east-1_abc",
            "COGNITO_DOMAIN": "https://auth.example.com",
            "AUTHPROXY_SECRET_KEY": "k" * 40,
            "AUTHPROXY_RESOURCES": '[{"resource": "https://mcp.example.com/mcp"}]',
            "AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true",
        }
    )
    documents = MetadataDocuments(settings, transport=httpx.MockTransport(answer))
    metadata = await documents.fetch("http://localhost:8080/oauth/client.json")
    assert metadata["client_name"] == "C"
    (request,) = seen
    assert request.url.host in ("127.0.0.1", "::1")
    assert request.headers["host"] == "localhost:8080"

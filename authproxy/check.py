"""``authproxy check URL``: walk the discovery chain as an MCP client does and say where it breaks.

Each step is one line with ✓ or ✗, its time in milliseconds, and what was found or expected:

1. an unauthenticated MCP request gets 401 with ``WWW-Authenticate: Bearer resource_metadata=…``
   (MCP 2025-06-18; some front doors rename or drop that header);
2. protected-resource metadata (RFC 9728) names the URL as its ``resource`` and an authorization
   server;
3. authorization-server metadata (RFC 8414, or OpenID Connect discovery) has the issuer it was
   looked up by, S256 PKCE and the endpoints a client needs;
4. optionally, a throw-away registration (RFC 7591), deleted again (RFC 7592);
5. optionally, with a token, an authenticated ``initialize`` and ``tools/list``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from authlib.oauth2.rfc8414 import get_well_known_url

from servicekit.text import inert

PROTOCOL_VERSION = "2025-06-18"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class StepFailed(Exception):
    """This step of the chain is broken; the message says what was expected, ``fix`` what to
    change."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


@dataclass
class Step:
    name: str
    ok: bool
    millis: float
    detail: str
    #: On a failed step: what to change on the deployment.
    fix: str = ""


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _initialize(client_name: str, protocol_version: str = PROTOCOL_VERSION) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }


def json_body(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise StepFailed(f"{what} answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise StepFailed(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise StepFailed(f"{what} is not a JSON object")
    return body


def _mcp_result(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON-RPC result, from a JSON body or the first SSE ``data:`` line."""
    if response.status_code != 200:
        raise StepFailed(f"{what} answered {response.status_code}: {response.text[:200]}")
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")]
        text = lines[0] if lines else ""
    try:
        message = json.loads(text)
    except ValueError:
        raise StepFailed(f"{what} did not answer JSON-RPC") from None
    if "error" in message:
        raise StepFailed(f"{what} failed: {message['error']}")
    return dict(message.get("result") or {})


class Checker:
    """Runs the steps in order over one HTTP client; a broken step ends the walk."""

    def __init__(self, url: str, http: httpx.Client, fixes: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/") if urlsplit(url).path not in ("", "/") else url
        self.http = http
        self.report = Report()
        self.found: dict[str, Any] = {}
        #: Per step name, what to change on the deployment when it fails.
        self.fixes = fixes or {}

    @contextmanager
    def step(self, name: str) -> Iterator[Callable[[str], None]]:
        started = time.perf_counter()
        detail: list[str] = []
        try:
            yield detail.append
        except StepFailed as exc:
            millis = (time.perf_counter() - started) * 1000
            fix = exc.fix or self.fixes.get(name, "")
            self.report.steps.append(Step(name, False, millis, str(exc), fix))
            raise
        except httpx.HTTPError as exc:
            millis = (time.perf_counter() - started) * 1000
            what = f"{type(exc).__name__}: {exc}"
            self.report.steps.append(Step(name, False, millis, what, self.fixes.get(name, "")))
            raise StepFailed(str(exc)) from None
        millis = (time.perf_counter() - started) * 1000
        self.report.steps.append(Step(name, True, millis, "; ".join(detail)))

    def challenge(self, protocol_version: str = PROTOCOL_VERSION) -> None:
        with self.step("401 challenge") as say:
            response = self.http.post(
                self.url, json=_initialize("authproxy-check", protocol_version), headers=MCP_HEADERS
            )
            if response.status_code != 401:
                raise StepFailed(f"expected 401 without a token, got {response.status_code}")
            header = response.headers.get("www-authenticate", "")
            if not header.lower().startswith("bearer"):
                raise StepFailed(
                    "no 'WWW-Authenticate: Bearer' header (a front door may have renamed it)"
                )
            params = dict(_PARAM.findall(header))
            metadata_url = params.get("resource_metadata")
            if not metadata_url or not urlsplit(metadata_url).scheme:
                raise StepFailed("the challenge has no absolute resource_metadata URL")
            self.found["resource_metadata"] = metadata_url
            say(f"resource_metadata={metadata_url}")
            if params.get("scope"):
                self.found["challenge_scope"] = params["scope"]
                say(f"scope={params['scope']}")

    def protected_resource(self) -> None:
        with self.step("protected-resource metadata") as say:
            document = json_body(self.http.get(self.found["resource_metadata"]), "the PRM document")
            if document.get("resource") != self.url:
                raise StepFailed(f"resource is {document.get('resource')!r}, not {self.url!r}")
            servers = document.get("authorization_servers") or []
            if not servers:
                raise StepFailed("no authorization_servers")
            self.found["issuer"] = servers[0]
            self.found["prm"] = document
            say(f"authorization_servers={servers}")

    def authorization_server(self) -> None:
        issuer = self.found["issuer"]
        with self.step("authorization-server metadata") as say:
            document, where = self._as_metadata(issuer)
            if document.get("issuer") != issuer:
                raise StepFailed(f"issuer is {document.get('issuer')!r}, not {issuer!r}")
            if "S256" not in (document.get("code_challenge_methods_supported") or []):
                raise StepFailed("code_challenge_methods_supported lacks S256 (MCP clients refuse)")
            for name in ("authorization_endpoint", "token_endpoint"):
                if not document.get(name):
                    raise StepFailed(f"no {name}")
            if "offline_access" in (document.get("scopes_supported") or []):
                raise StepFailed("scopes_supported lists offline_access (Cognito refuses it)")
            self.found["as"] = document
            registration = "registration" if document.get("registration_endpoint") else "no DCR"
            say(f"{where}; S256; {registration}")

    def _as_metadata(self, issuer: str) -> tuple[dict[str, Any], str]:
        """MCP 2025-11-25 probe order: RFC 8414, then OpenID Connect discovery."""
        parts = urlsplit(issuer)
        candidates = [
            get_well_known_url(issuer, external=True),
            get_well_known_url(issuer, external=True, suffix="openid-configuration"),
            urlunsplit(
                parts._replace(path=parts.path.rstrip("/") + "/.well-known/openid-configuration")
            ),
        ]
        tried = []
        for url in dict.fromkeys(candidates):
            response = self.http.get(url)
            if response.status_code == 200:
                return json_body(response, url), urlsplit(url).path
            tried.append(f"{urlsplit(url).path} {response.status_code}")
        raise StepFailed("no metadata: " + ", ".join(tried))

    def registration(self) -> None:
        with self.step("dynamic client registration") as say:
            endpoint = self.found["as"].get("registration_endpoint")
            if not endpoint:
                raise StepFailed("the authorization server has no registration_endpoint")
            response = self.http.post(
                endpoint,
                json={
                    "client_name": "authproxy check (throw-away)",
                    "redirect_uris": ["http://127.0.0.1:9/callback"],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                },
            )
            if response.status_code != 201:
                raise StepFailed(
                    f"registration answered {response.status_code}: {response.text[:200]}"
                )
            registered = response.json()
            say(f"client_id={registered['client_id']}")
            uri, token = (
                registered.get("registration_client_uri"),
                registered.get("registration_access_token"),
            )
            if uri and token:
                deleted = self.http.delete(uri, headers={"Authorization": f"Bearer {token}"})
                if deleted.status_code not in (200, 204):
                    raise StepFailed(f"deleting the registration answered {deleted.status_code}")
                say("deleted again")
            else:
                say("could not delete it: no registration_client_uri (RFC 7592)")

    def authenticated(self, token: str, protocol_version: str = PROTOCOL_VERSION) -> None:
        with self.step("authenticated tools/list") as say:
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
            response = self.http.post(
                self.url, json=_initialize("authproxy-check", protocol_version), headers=headers
            )
            _mcp_result(response, "initialize")
            session = response.headers.get("mcp-session-id")
            follow = {**headers, "MCP-Protocol-Version": protocol_version}
            if session:
                follow["Mcp-Session-Id"] = session
            self.http.post(
                self.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=follow,
            )
            listed = self.http.post(
                self.url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=follow
            )
            tools = _mcp_result(listed, "tools/list").get("tools", [])
            say(f"{len(tools)} tools: " + ", ".join(t.get("name", "?") for t in tools[:8]))


def run_check(
    url: str, *, register: bool = False, token: str | None = None, timeout: float = 10.0
) -> Report:
    """Walk the chain against ``url``; stop at the first broken step."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        checker = Checker(url, http)
        steps: list[Callable[[], None]] = [
            checker.challenge,
            checker.protected_resource,
            checker.authorization_server,
        ]
        if register:
            steps.append(checker.registration)
        if token:
            steps.append(lambda: checker.authenticated(token))
        for step in steps:
            try:
                step()
            except StepFailed:
                break
        return checker.report


def render(report: Report) -> str:
    lines = []
    for s in report.steps:
        lines.append(f"{'✓' if s.ok else '✗'} {s.name:<32} {s.millis:7.0f} ms  {s.detail}")
        if s.fix:
            lines.append(f"    fix: {s.fix}")
    failed = [s.name for s in report.steps if not s.ok]
    lines.append("FAILED at: " + failed[0] if failed else "all steps passed")
    # Details quote what the deployment under check answered: shown, never obeyed.
    return "\n".join(map(inert, lines))

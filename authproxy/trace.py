"""``authproxy trace CLIENT_ID|FLOW_ID|USER``: one person's sign-ins, end to end, from the logs.

Every access-log line of a sign-in carries its ``flow_id`` and ``step`` (register, authorize,
consent, callback, token, refresh, revoke): the façade seals the id into the state it hands to
Cognito, the wrapped code and the wrapped refresh token. The MCP server's lines carry the
``origin_jti`` of the Cognito access token they accepted, which the façade logged at ``/token``;
that joins the MCP calls to the sign-in that produced the token. Lines come from a local JSON log
file or from CloudWatch Logs Insights. Log lines never hold credentials, so neither does this.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from servicekit.text import inert

FACADE_STEPS = ("register", "authorize", "consent", "callback", "token", "refresh", "revoke")

#: (step, OAuth error or reason) → the likely cause, in words. ``None`` matches any error.
CAUSES: dict[tuple[str, str | None], str] = {
    ("authorize", "invalid_request"): (
        "the authorization request was malformed (missing PKCE S256 challenge, repeated or "
        "unknown parameters); the client must fix its request"
    ),
    ("authorize", "invalid_target"): (
        "the client asked for a resource this server does not front (RFC 8707): check "
        "AUTHPROXY_RESOURCES against the MCP URL the client uses"
    ),
    ("authorize", "page"): (
        "the façade showed an error page instead of redirecting: unknown or revoked client, or "
        "a redirect URI the client did not register — the client must register again"
    ),
    ("consent", "access_denied"): "the person denied the request on the consent page",
    ("consent", "page"): "the consent form expired or did not come from the same browser",
    ("callback", "access_denied"): "the person cancelled at Cognito's sign-in page",
    ("callback", "page"): (
        "the sign-in response could not be used: it expired, was replayed, or arrived in a "
        "different browser from the one that approved (the transaction is bound to it)"
    ),
    ("callback", None): "Cognito answered the sign-in with an error (see the error code)",
    ("token", "invalid_grant"): (
        "the code or refresh token was refused: already used, expired, issued to another client "
        "or redirect URI, or the code_verifier does not match the code_challenge (PKCE)"
    ),
    ("token", "invalid_client"): (
        "client authentication failed, or the registration is unknown, expired, pruned or "
        "revoked: the client must register again"
    ),
    (
        "token",
        "temporarily_unavailable",
    ): "Cognito or the store did not answer; the client may retry",
    ("refresh", "invalid_grant"): (
        "the refresh token was refused: revoked, rotated already, expired, or issued to another "
        "registration; the person must sign in again"
    ),
    ("refresh", "invalid_client"): (
        "the registration is unknown, expired, pruned or revoked: the client must register again"
    ),
    ("mcp", "401"): (
        "the MCP server refused the access token: expired, not issued for this resource "
        "(audience), or signed by another pool"
    ),
    ("mcp", "403"): (
        "the token lacks a scope the call needs (insufficient_scope): the client must step up "
        "and the person approve the extra scope"
    ),
}


@dataclass
class Event:
    """One access-log line of a sign-in: a request to the façade or to an MCP server."""

    time: str
    step: str
    status: int
    duration_ms: float
    line: dict[str, Any]

    @property
    def failed(self) -> bool:
        return self.status >= 400 or bool(self.line.get("error"))

    @property
    def detail(self) -> str:
        line = self.line
        parts = [
            line.get("error") and f"error={line['error']}",
            line.get("error_description") and repr(line["error_description"]),
            line.get("rpc_method"),
            line.get("tool") and f"tool={line['tool']}",
        ]
        return " ".join(p for p in parts if p)

    @property
    def cause(self) -> str:
        reason = self.line.get("error") or (str(self.status) if self.step == "mcp" else None)
        return CAUSES.get((self.step, reason)) or CAUSES.get((self.step, None), "")


@dataclass
class Flow:
    flow_id: str
    client_id: str | None = None
    user: str | None = None
    origin_jtis: set[str] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)

    @property
    def first_failure(self) -> Event | None:
        return next((e for e in self.events if e.failed), None)


def read_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects among ``lines`` (anything else, e.g. a startup banner, is skipped)."""
    for raw in lines:
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        if isinstance(document, dict):
            yield document


#: Logs Insights query for the lines a trace needs (the access lines of the sign-in steps).
INSIGHTS_QUERY = "fields @timestamp, @message | filter ispresent(step) | sort @timestamp asc"
INSIGHTS_LIMIT = 10000


def cloudwatch_lines(
    client: Any, log_groups: list[str], since_seconds: int, *, poll: float = 1.0
) -> list[str]:
    """The access lines of the last ``since_seconds`` from CloudWatch Logs Insights
    (``StartQuery``, then ``GetQueryResults`` until it completes)."""
    end = int(time.time()) + 1  # whole seconds: include the current one
    query = client.start_query(
        logGroupNames=log_groups,
        startTime=end - since_seconds,
        endTime=end,
        queryString=INSIGHTS_QUERY,
        limit=INSIGHTS_LIMIT,
    )
    while True:
        answer = client.get_query_results(queryId=query["queryId"])
        if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
            break
        time.sleep(poll)
    if answer["status"] != "Complete":
        raise RuntimeError(f"the Logs Insights query ended {answer['status']}")
    return [
        cell["value"] for row in answer["results"] for cell in row if cell["field"] == "@message"
    ]


def _event(line: dict[str, Any], step: str) -> Event:
    return Event(
        time=str(line.get("time", "")),
        step=step,
        status=int(line.get("status") or 0),
        duration_ms=float(line.get("duration_ms") or 0),
        line=line,
    )


def flows(lines: Iterable[dict[str, Any]]) -> list[Flow]:
    """Sign-ins in the order they started, each with its façade steps and its MCP calls."""
    by_id: dict[str, Flow] = {}
    registrations: dict[str, dict[str, Any]] = {}
    mcp_calls: list[dict[str, Any]] = []
    for line in lines:
        step = line.get("step")
        if step == "mcp" and line.get("origin_jti"):
            mcp_calls.append(line)
        elif step == "register" and line.get("client_id"):
            registrations.setdefault(line["client_id"], line)
        elif step in FACADE_STEPS and line.get("flow_id"):
            flow = by_id.setdefault(line["flow_id"], Flow(line["flow_id"]))
            flow.client_id = flow.client_id or line.get("client_id")
            flow.user = flow.user or line.get("user")
            if line.get("origin_jti"):
                flow.origin_jtis.add(line["origin_jti"])
            flow.events.append(_event(line, step))
    for flow in by_id.values():
        registered = registrations.pop(flow.client_id or "", None)
        if registered:
            flow.events.insert(0, _event(registered, "register"))
        flow.events += [
            _event(line, "mcp") for line in mcp_calls if line["origin_jti"] in flow.origin_jtis
        ]
        flow.events.sort(key=lambda e: e.time)
    return sorted(by_id.values(), key=lambda f: f.events[0].time if f.events else "")


def select(all_flows: list[Flow], who: str) -> list[Flow]:
    """Flows of a client id, a flow id or a user name."""
    return [f for f in all_flows if who in (f.flow_id, f.client_id, f.user)]


def render(selected: list[Flow]) -> str:
    if not selected:
        return "no sign-ins found for that client, flow or user"
    out = []
    for flow in selected:
        out.append(f"flow {flow.flow_id}  client {flow.client_id or '?'}  user {flow.user or '?'}")
        for event in flow.events:
            mark = "✗" if event.failed else "✓"
            out.append(
                f"  {mark} {event.time}  {event.step:<9} {event.status:>3} "
                f"{event.duration_ms:8.1f} ms  {event.detail}".rstrip()
            )
        failure = flow.first_failure
        if failure:
            out.append(f"  first failure: {failure.step} — {failure.cause or 'see the line above'}")
        out.append("")
    return "\n".join(map(inert, out)).rstrip()

"""The two pages people see: the consent page and the error page shown instead of a redirect.

Both are self-contained HTML with every interpolated value escaped, served with a policy that
refuses framing (clickjacking defence for the consent button, MCP security best practices) and
forbids scripts altogether.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

from .redirects import DisplayHost

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:30rem;margin:8vh auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}dl{margin:1rem 0}dt{font-weight:600;margin-top:.6rem}
dd{margin:0;word-break:break-all}code{font-size:.9em}.warn{color:#8a4b00}.aside{color:#5a6275}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{font:inherit;padding:.6rem 1.4rem;border-radius:8px;border:1px solid #9aa3b5;
background:#fff;cursor:pointer}button.primary{background:#1f5eff;border-color:#1f5eff;color:#fff}
"""


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(title: str, detail: str, status: int = 400) -> HTMLResponse:
    """Shown when the façade cannot trust the redirect URI, so it must not redirect."""
    return _page(
        title,
        f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        "<p>Close this window and start the sign-in again from your application.</p>",
        status,
    )


@dataclass(frozen=True)
class ConsentView:
    """What the person approving must see (MCP security best practices, CIMD §"display").

    Hosts come in ASCII form, URIs with ASCII hosts (:func:`.redirects.ascii_uri`): a look-alike
    Unicode name cannot pass for the real one. ``client_host`` is set for a metadata-document
    client: the host serving its ``client_id``, the one thing about it that was verified."""

    client_name: str
    client_host: DisplayHost | None
    client_id: str
    client_uri: str | None
    redirect_host: DisplayHost
    redirect_uri: str
    resource_name: str
    resource: str
    scopes: tuple[str, ...]
    loopback_only: bool
    form_token: str
    transaction: str
    action: str


def _host(host: DisplayHost) -> str:
    """The ASCII form in bold, the Unicode form beside it only when it differs."""
    unicode = f' <span class="aside">({escape(host.unicode)})</span>' if host.unicode else ""
    return f"<strong>{escape(host.ascii)}</strong>{unicode}"


def consent_page(view: ConsentView) -> HTMLResponse:
    scopes = "".join(f"<li><code>{escape(s)}</code></li>" for s in view.scopes)
    if view.client_host:
        who = view.client_host.ascii
        application = (
            f"{_host(view.client_host)}<br>"
            f'<span class="aside">calls itself “{escape(view.client_name)}”</span>'
        )
    else:
        who = view.client_name
        application = escape(view.client_name)
    about = (
        f'<dd><a href="{escape(view.client_uri)}" rel="noopener noreferrer">'
        f"{escape(view.client_uri)}</a></dd>"
        if view.client_uri
        else ""
    )
    warning = (
        '<p class="warn">This application receives its sign-in on this device only '
        "(a local address). Approve only if you just started it yourself.</p>"
        if view.loopback_only
        else ""
    )
    body = f"""
<h1>Allow {escape(who)} to use {escape(view.resource_name)}?</h1>
<p>An application wants to act on your behalf.</p>
<dl>
<dt>Application</dt><dd>{application}</dd>{about}
<dt>Sends you back to</dt><dd>{_host(view.redirect_host)}
<br><code>{escape(view.redirect_uri)}</code></dd>
<dt>Access to</dt><dd>{escape(view.resource_name)}<br><code>{escape(view.resource)}</code></dd>
<dt>Permissions</dt><dd><ul>{scopes}</ul></dd>
</dl>
{warning}
<form method="post" action="{escape(view.action)}">
<input type="hidden" name="transaction" value="{escape(view.transaction)}">
<input type="hidden" name="csrf_token" value="{escape(view.form_token)}">
<div class="actions">
<button class="primary" type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>"""
    return _page(f"Allow {who}?", body, 200)

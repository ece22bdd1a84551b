"""The pages people see: the consent page, and the error pages shown instead of a redirect or for
an address or method the façade does not serve.

All are self-contained HTML in one style with every interpolated value escaped, served with a policy
that refuses framing (clickjacking defence for the consent button, MCP security best practices) and
forbids scripts altogether. Every error page says what went wrong and, separately, what the person
can do next: a step that can actually help, such as reconnecting the server in the application
when its registration is gone, since starting the same sign-in again would fail the same way.
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
main{max-width:32rem;margin:8vh auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
@media (max-width:36rem){main{margin:0;border-radius:0;box-shadow:none}}
h1{font-size:1.3rem;margin:0 0 1rem}h2{font-size:1rem;margin:0 0 .3rem}
dl{margin:1rem 0}dt{font-weight:600;margin-top:.8rem}dd{margin:0;overflow-wrap:anywhere}
code{font-size:.9em}.warn{color:#8a4b00}.aside{color:#5a6275}
ul.permissions{list-style:none;padding:0;margin:.3rem 0 0}
ul.permissions li{border:1px solid #e1e4ea;border-radius:8px;padding:.5rem .75rem;margin:0 0 .5rem}
.scope{display:block;color:#5a6275;font-size:.8rem;margin-top:.15rem}
.next{background:#eef3ff;border-left:4px solid #1f5eff;border-radius:8px;padding:.8rem 1rem;
margin-top:1.25rem}.next p{margin:0}.next .address{margin-top:.4rem;overflow-wrap:anywhere}
.status{color:#5a6275;font-size:.85rem;margin:1.25rem 0 0}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{font:inherit;padding:.6rem 1.4rem;border-radius:8px;border:1px solid #9aa3b5;
background:#fff;cursor:pointer}button.primary{background:#1f5eff;border-color:#1f5eff;color:#fff}
"""

# What a person can do next, for the error pages. Each is a step that can help with its error.
START_AGAIN = "Close this window and start the sign-in again from your application."
START_AGAIN_OR_REPORT = (
    "Start the sign-in again from your application. If this page comes back, the application "
    "sends a request this server cannot accept: tell its developer what this page says."
)
RECONNECT = (
    "In your application, remove this server and add it again (reconnect it). The application "
    "then registers again and can ask you to sign in. Starting the same sign-in again will not "
    "help."
)
RELOAD = "Reload this page in a few seconds."


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(
    title: str,
    detail: str,
    status: int = 400,
    *,
    next_step: str = START_AGAIN,
    address: str | None = None,
) -> HTMLResponse:
    """A page instead of a redirect or an API answer: what went wrong, then what to do next, with
    the ``address`` that step needs (if any) on a line of its own."""
    shown = f'<p class="address"><code>{escape(address)}</code></p>' if address else ""
    return _page(
        title,
        f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        f'<div class="next"><h2>What you can do</h2><p>{escape(next_step)}</p>{shown}</div>'
        f'<p class="status">Error {status}</p>',
        status,
    )


def busy_page(retry_after: int = 5) -> HTMLResponse:
    """503 with ``Retry-After``: a store or upstream that is not answering now may shortly."""
    page = error_page("Please try again", "The sign-in service is busy.", 503, next_step=RELOAD)
    page.headers["Retry-After"] = str(retry_after)
    return page


@dataclass(frozen=True)
class Permission:
    """One scope on the consent page: what it lets the application do, then the scope string."""

    description: str
    scope: str


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
    permissions: tuple[Permission, ...]
    loopback_only: bool
    form_token: str
    transaction: str
    action: str


def _host(host: DisplayHost) -> str:
    """The ASCII form in bold, the Unicode form beside it only when it differs."""
    unicode = f' <span class="aside">({escape(host.unicode)})</span>' if host.unicode else ""
    return f"<strong>{escape(host.ascii)}</strong>{unicode}"


def consent_page(view: ConsentView) -> HTMLResponse:
    permissions = "".join(
        f'<li><span>{escape(p.description)}</span><code class="scope">{escape(p.scope)}</code></li>'
        for p in view.permissions
    )
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
<dt>It will be able to</dt><dd><ul class="permissions">{permissions}</ul></dd>
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

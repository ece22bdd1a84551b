"""The Cognito stand-in: moto for the admin API plus an emulator of the managed-login endpoints.

Use::

    from devstack.cognito import CognitoStandIn

    with CognitoStandIn() as standin:
        pool = standin.seed(resources=[("http://127.0.0.1:8000/mcp", ["read", "write"])],
                            users=[("demo", "a-password", ["admins"])])
        # COGNITO_ENDPOINT=standin.endpoint  USER_POOL_ID=pool.pool_id
        # COGNITO_ISSUER=pool.issuer  JWKS_URL=pool.jwks_url  COGNITO_DOMAIN=pool.domain

Hosts. ``standin.endpoint`` is the admin API (boto3 ``endpoint_url``; any credentials) and the
issuer: ``<endpoint>/<pool id>`` serves ``/.well-known/openid-configuration`` and
``/.well-known/jwks.json``. ``standin.domain`` is the managed login: ``/oauth2/authorize``,
``/login``, ``/logout``, ``/error``, ``/oauth2/token``, ``/oauth2/revoke``, ``/oauth2/userInfo``,
and ``/_standin/faults``. Other AWS services moto knows are reachable on the endpoint too.

Options: ``resource_binding`` (Cognito resource binding for every pool), ``token_ttl_override``
(seconds, for every access and ID token), ``client_quota`` (app clients per pool) and ``clock``
(move time instead of sleeping). A successful sign-in opens a managed-login session (cookie
``cognito``, one hour): later authorize requests of the same pool skip the form unless
``prompt=login``; ``prompt=none`` without one is ``login_required``; ``/logout`` ends it.
``devstack.cognito.browser.sign_in`` walks the login with httpx.

Faults: ``POST <domain>/_standin/faults`` with ``{"path": "/oauth2/token" | "action":
"CreateUserPoolClient", "kind": "delay" | "throttle" | "error" | "drop", "seconds": 15, "count":
1}`` (``count`` null: until cleared; a path of the issuer host, such as
``/<pool id>/.well-known/jwks.json``, works too), ``DELETE`` clears, ``GET`` lists; in-process
``standin.inject_fault(...)`` / ``standin.clear_faults()``. Stopping the stand-in ends pending
delays, and their requests are answered.

Strict where Cognito is strict: callback URLs match exactly; S256 is the only PKCE method; codes
are single-use and live 5 minutes; a confidential client must authenticate; scopes are limited to
the client's; ``CreateUserPoolClient`` / ``UpdateUserPoolClient`` enforce Cognito's rules with its
exception names, an update resets omitted settings, and pools hold at most ``client_quota`` clients.

Choices where Cognito's behaviour is undocumented or unconfirmed:

- ``/oauth2/token`` answers every error with HTTP 400 and ``{"error": …}`` — including
  ``invalid_client``, as Cognito documents; ``/oauth2/revoke`` answers ``invalid_client`` with 401.
  Both client authentication methods at once is ``invalid_request``; so is a body that is not
  ``application/x-www-form-urlencoded``.
- Error responses and error redirects add an ``error_description`` saying why (RFC 6749 allows
  it); Cognito mostly sends the code alone, so nothing should depend on the description.
- A redirect URI mismatch at the token endpoint is ``unauthorized_client`` with
  ``error_description=invalid_redirect`` (as reported from Cognito).
- ``/oauth2/authorize``: an unknown client, a pool without a domain or a redirect URI that is not
  a callback URL of the client → 302 to the domain's ``/error?error=…`` page (HTTP 400), never to
  the client. A scope the client may not use → redirect with ``error=invalid_request`` and
  ``error_description=invalid_scope`` (seen from Cognito).
- ``resource`` without resource binding → redirect with ``error=invalid_request`` (at
  ``/oauth2/token``: HTTP 400 ``invalid_request``). With binding, a ``resource`` that is not a
  resource-server identifier of the pool → redirect with ``error=invalid_target``; at the token
  endpoint ``resource`` may only repeat the bound value, else ``invalid_target``.
- Throttling faults answer HTTP 429 ``{"error": "too_many_requests"}`` on the domain (Cognito's
  status is unconfirmed) and ``TooManyRequestsException`` (HTTP 400) on the admin API; botocore
  retries that exception, so inject it with a ``count`` above the caller's retry budget.
- Revoking a refresh token of another client, or an unknown token, succeeds and does nothing; an
  access or ID token is ``unsupported_token_type``. Revocation covers the refresh token's whole
  family (rotated successors included) and the access tokens issued from it (``/oauth2/userInfo``
  reports them ``invalid_token``).
- ``/oauth2/userInfo`` answers every token problem, a missing ``openid`` scope included, with 401
  and ``WWW-Authenticate: error="invalid_token", …``.
- The wrong password re-renders the login form with HTTP 400; the form carries a ``_csrf`` field
  matching an ``XSRF-TOKEN`` cookie, so an HTTP client must GET the form before posting it.
- ``AllowedOAuthFlowsUserPoolClient`` false with flows or scopes set, and true without both, are
  ``InvalidOAuthFlowException``; an http callback URL other than localhost, 127.0.0.1 or [::1],
  a fragment, or more than 100 URLs are ``InvalidParameterException``.

Known differences from Cognito:

- One domain serves every pool the process holds (the client id picks the pool); the domain
  prefix is recorded but not part of the URL. Hosts are http on 127.0.0.1.
- Access and ID tokens share one key (moto's, ``kid`` "dummy"); Cognito uses two. Refresh tokens
  are random strings, not encrypted JWTs. Tokens carry no ``identities``/``amr`` claims.
- Only the authorization-code and refresh-token grants: no implicit grant
  (``unsupported_response_type``) and no ``client_credentials`` (``unsupported_grant_type``).
- No federation: ``identity_provider`` must be one of the client's providers, and every provider
  signs in with the pool's local users. No MFA, no password change (users must be CONFIRMED), no
  sign-up, no branding; ``lang`` is accepted and ignored.
- With refresh-token rotation, ``ALLOW_REFRESH_TOKEN_AUTH`` is not refused at client creation.
- ``ClientType``, DCR, two secrets per client (``AddUserPoolClientSecret``), pre-token-generation
  triggers and ``GetTokensFromRefreshToken`` are not emulated.
- A pool without a domain gets a discovery document without endpoint URLs.
- moto's state is process-wide: several stand-ins in one process see the same pools and clients
  (each keeps its own codes, tokens, sessions, faults and options), and leaving a ``mock_aws()``
  block anywhere in the process resets it, pools included.
"""

from devstack.cognito.standin import CognitoStandIn, SeededPool

__all__ = ["CognitoStandIn", "SeededPool"]

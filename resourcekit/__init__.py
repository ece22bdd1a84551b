"""resourcekit: what makes an HTTP service an OAuth 2.0 protected resource for Cognito tokens.

- :mod:`resourcekit.verifier` — :class:`~resourcekit.verifier.CognitoTokenVerifier`;
- :mod:`resourcekit.middleware` — :class:`~resourcekit.middleware.BearerAuthMiddleware`, the RFC
  6750 challenges with RFC 9728 hints and per-tool step-up;
- :mod:`resourcekit.metadata` — the one RFC 9728 document builder and its endpoint;
- :mod:`resourcekit.jwks` — the JWKS cache.

The MCP server, the gateway and any other Python server import them; the façade uses only the
metadata builder. Nothing is imported here, so that importing the metadata builder does not load
the MCP SDK into the façade.
"""

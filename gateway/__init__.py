"""gateway: the authenticating front for MCP servers that have no authorization of their own.

Per upstream it serves ``<origin>/mcp/<name>`` as an OAuth 2.0 protected resource (the same
verifier, challenges and RFC 9728 metadata as the MCP server, from :mod:`resourcekit`) and relays
authenticated requests to the upstream's Streamable HTTP endpoint: never the bearer token, but the
caller's identity in a signed header (:mod:`gateway.identity`).
"""

"""mcpserver: a reference MCP resource server that trusts the façade's Cognito tokens."""

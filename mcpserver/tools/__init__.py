"""The MCP server's tools, resources and prompts, grouped by the AWS service they read or change."""

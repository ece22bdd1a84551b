"""authproxy: an OAuth 2.1 authorization-server façade for Amazon Cognito user pools."""

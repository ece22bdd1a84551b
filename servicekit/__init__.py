"""What both deployables share: settings read from the environment, structured JSON logs with a
request id. Standard library and Starlette types only, so it adds nothing to either artifact."""

from botocore.exceptions import ClientError, EndpointConnectionError

from mcpserver.tools.aws import tool_error


def test_an_aws_error_keeps_its_code_and_message() -> None:
    error = ClientError(
        {"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized"}},
        "StopInstances",
    )
    assert str(tool_error(error)) == "AWS error UnauthorizedOperation: You are not authorized"


def test_a_transport_error_is_described() -> None:
    error = EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")
    assert str(tool_error(error)).startswith("AWS error: Could not connect")

"""The MCP server over real HTTP: authentication, metadata, sessions, revisions, tools on moto."""

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import boto3
import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION
from moto import mock_aws

ACCEPT = "application/json, text/event-stream"
OTHER_SUBJECT = "0a9d0c55-1111-4000-8000-0000000000b2"


def rpc(method: str, params: dict[str, Any] | None = None, id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(version: str = "2025-06-18") -> dict[str, Any]:
    return rpc(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    )


async def post(url: str, body: Any, token: str | None = None, **headers: str) -> httpx.Response:
    sent = {"accept": ACCEPT, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as http:
        return await http.post(url, json=body, headers=sent)


@contextlib.asynccontextmanager
async def connect(url: str, token: str, **options: Any) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,
    ):
        yield client


def challenge(response: httpx.Response) -> str:
    return response.headers["www-authenticate"]


# -- authentication ------------------------------------------------------------------------


async def test_no_token_starts_the_authorization_flow(mcp_server: Any) -> None:
    response = await post(mcp_server.url, initialize())
    assert response.status_code == 401
    origin = mcp_server.url.removesuffix("/mcp")
    assert challenge(response) == (
        f'Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp", '
        f'scope="{mcp_server.url}/read"'
    )


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong issuer",
        "alg none",
        "HS256 with the public key",
        "unknown kid",
        "ID token",
        "another resource",
        "bound to another audience",
        "garbage",
    ],
)
async def test_refused_tokens_get_invalid_token(
    case: str, mcp_server: Any, tokens: Any, new_key: Any
) -> None:
    import base64
    import hashlib
    import hmac

    from joserfc import jwt

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def signing_input(alg: str) -> str:
        header = b64(json.dumps({"alg": alg, "kid": tokens.key.kid}).encode())
        return f"{header}.{b64(json.dumps(tokens.claims()).encode())}"

    token = {
        "expired": lambda: tokens.access(exp=int(time.time()) - 300),
        "wrong issuer": lambda: tokens.access(iss="https://cognito-idp.x.amazonaws.com/x_1"),
        "alg none": lambda: signing_input("none") + ".",
        "HS256 with the public key": lambda: (
            signing_input("HS256")
            + "."
            + b64(
                hmac.new(
                    tokens.key.as_pem(private=False),
                    signing_input("HS256").encode(),
                    hashlib.sha256,
                ).digest()
            )
        ),
        "unknown kid": lambda: jwt.encode(
            {"alg": "RS256", "kid": "rogue"}, tokens.claims(), new_key("rogue")
        ),
        "ID token": lambda: tokens.access(token_use="id", aud="client"),
        "another resource": lambda: tokens.access(scope="https://other.example.com/mcp/read"),
        "bound to another audience": lambda: tokens.access(aud="https://other.example.com/mcp"),
        "garbage": lambda: "abc.def",
    }[case]()
    response = await post(mcp_server.url, initialize(), token)
    assert response.status_code == 401
    header = challenge(response)
    assert header.startswith('Bearer error="invalid_token", error_description="')
    assert f'resource_metadata="{mcp_server.url.removesuffix("/mcp")}' in header
    assert f'scope="{mcp_server.url}/read"' in header
    assert response.json()["error"] == "invalid_token"


async def test_a_destructive_tool_needs_the_write_scope(mcp_server: Any, tokens: Any) -> None:
    call = rpc("tools/call", {"name": "stop_ec2_instance", "arguments": {"instance_id": "i-0"}})
    response = await post(mcp_server.url, call, tokens.access(("read",)))
    assert response.status_code == 403
    assert challenge(response) == (
        'Bearer error="insufficient_scope", '
        'error_description="The request needs the scopes listed in this challenge", '
        f'resource_metadata="{mcp_server.url.removesuffix("/mcp")}'
        '/.well-known/oauth-protected-resource/mcp", '
        f'scope="{mcp_server.url}/read {mcp_server.url}/write"'
    )
    unauthenticated = await post(mcp_server.url, call)
    assert f'scope="{mcp_server.url}/read {mcp_server.url}/write"' in challenge(unauthenticated)


async def test_the_read_scope_is_needed_for_everything(mcp_server: Any, tokens: Any) -> None:
    write_only = tokens.access(("write",))
    response = await post(mcp_server.url, rpc("tools/list"), write_only)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in challenge(response)


# -- protected-resource metadata -----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
)
async def test_protected_resource_metadata(path: str, mcp_server: Any) -> None:
    origin = mcp_server.url.removesuffix("/mcp")
    async with httpx.AsyncClient() as http:
        response = await http.get(origin + path)
        preflight = await http.options(
            origin + path,
            headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "GET"},
        )
    assert response.status_code == 200
    assert response.json() == {
        "resource": mcp_server.url,
        "authorization_servers": [origin],
        "scopes_supported": [f"{mcp_server.url}/read", f"{mcp_server.url}/write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "AWS tools",
    }
    assert response.headers["access-control-allow-origin"] == "*"
    assert preflight.status_code == 204


# -- transport -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", HANDSHAKE_PROTOCOL_VERSIONS)
async def test_every_handshake_revision_initializes(
    version: str, mcp_server: Any, tokens: Any
) -> None:
    response = await post(mcp_server.url, initialize(version), tokens.access())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result = response.json()["result"]
    assert result["protocolVersion"] == version
    assert {"tools", "resources", "prompts"} <= set(result["capabilities"])
    assert response.headers["mcp-session-id"]


async def test_lists_answer_without_an_initialize(mcp_server: Any, tokens: Any) -> None:
    """Claude.ai calls every list regardless of capabilities; a stateless server just answers."""
    token = tokens.access()
    for method, key in [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ]:
        response = await post(mcp_server.url, rpc(method), token, mcp_protocol_version="2024-11-05")
        assert response.status_code == 200
        assert key in response.json()["result"]


async def test_a_token_just_expired_is_within_the_leeway(mcp_server: Any, tokens: Any) -> None:
    """Clocks drift: the verifier allows 30 s past ``exp``, and nothing after it undoes that."""
    token = tokens.access(exp=int(time.time()) - 10)
    response = await post(mcp_server.url, rpc("tools/list"), token)
    assert response.status_code == 200


async def test_server_discover_at_the_modern_revision(mcp_server: Any, tokens: Any) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    response = await post(
        mcp_server.url,
        rpc("server/discover", {"_meta": meta}),
        tokens.access(),
        mcp_protocol_version=LATEST_MODERN_VERSION,
        mcp_method="server/discover",
    )
    assert response.status_code == 200
    result = response.json()["result"]
    assert LATEST_MODERN_VERSION in result["supportedVersions"]
    assert "mcp-session-id" not in response.headers
    # Nothing to listen for: no list-changed or subscribe promises a stateless server can't keep.
    capabilities = result["capabilities"]
    assert capabilities["tools"].get("listChanged") is not True
    assert capabilities["resources"].get("subscribe") is not True


async def test_subscriptions_listen_is_refused_at_once(mcp_server: Any, tokens: Any) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    with anyio.fail_after(5):
        response = await post(
            mcp_server.url,
            rpc("subscriptions/listen", {"_meta": meta}),
            tokens.access(),
            mcp_protocol_version=LATEST_MODERN_VERSION,
            mcp_method="subscriptions/listen",
        )
    assert response.json()["error"]["code"] in (-32601, -32602)  # the SDK says -32602


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sdk_client_calls_whoami(mode: str, mcp_server: Any, tokens: Any) -> None:
    async with connect(mcp_server.url, tokens.access(("read", "write")), mode=mode) as client:
        expected_version = "2025-11-25" if mode == "legacy" else LATEST_MODERN_VERSION
        assert client.protocol_version == expected_version
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {
            "whoami",
            "list_ec2_instances",
            "stop_ec2_instance",
            "bedrock_usage_report",
        }
        result = await client.call_tool("whoami", {})
    assert result.is_error is False
    assert result.structured_content == {
        "subject": "7f1e9c2a-0000-4000-8000-00000000d3e0",
        "username": "demo",
        "groups": ["operators"],
        "client_id": "4p1fakeclientid0000000000",
        "scopes": [f"{mcp_server.url}/read", f"{mcp_server.url}/write"],
        "resource": mcp_server.url,
    }


async def test_a_session_id_is_bound_to_its_subject(mcp_server: Any, tokens: Any) -> None:
    mine = tokens.access()
    session_id = (await post(mcp_server.url, initialize(), mine)).headers["mcp-session-id"]
    headers = {"mcp_session_id": session_id, "mcp_protocol_version": "2025-06-18"}

    own = await post(mcp_server.url, rpc("tools/list"), mine, **headers)
    assert own.status_code == 200

    theirs = tokens.access(sub=OTHER_SUBJECT, username="mallory")
    replayed = await post(mcp_server.url, rpc("tools/list"), theirs, **headers)
    assert replayed.status_code == 404
    assert replayed.json()["error"]["message"] == "Session not found"

    forged = await post(mcp_server.url, rpc("tools/list"), mine, mcp_session_id="forged")
    assert forged.status_code == 404


async def test_a_modern_request_ignores_session_ids(mcp_server: Any, tokens: Any) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    response = await post(
        mcp_server.url,
        rpc("tools/list", {"_meta": meta}),
        tokens.access(),
        mcp_protocol_version=LATEST_MODERN_VERSION,
        mcp_method="tools/list",
        mcp_session_id="anything",
    )
    assert response.status_code == 200


async def test_get_and_delete_are_not_offered(mcp_server: Any, tokens: Any) -> None:
    headers = {"authorization": f"Bearer {tokens.access()}", "accept": "text/event-stream"}
    async with httpx.AsyncClient() as http:
        get = await http.get(mcp_server.url, headers=headers)
        delete = await http.delete(mcp_server.url, headers=headers)
        anonymous = await http.get(mcp_server.url)
    assert get.status_code == 405
    assert get.headers["allow"] == "POST"
    assert delete.status_code == 405
    assert anonymous.status_code == 401


async def test_host_and_origin_are_checked(mcp_server: Any, tokens: Any) -> None:
    token = tokens.access()
    rebound = await post(mcp_server.url, initialize(), token, host="evil.example.com")
    assert rebound.status_code == 421
    cross_site = await post(mcp_server.url, initialize(), token, origin="https://evil.example.com")
    assert cross_site.status_code == 403


async def test_malformed_bodies_get_json_rpc_errors(mcp_server: Any, tokens: Any) -> None:
    headers = {
        "authorization": f"Bearer {tokens.access()}",
        "accept": ACCEPT,
        "content-type": "application/json",
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(mcp_server.url, content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


# -- tools, resources, prompts -------------------------------------------------------------


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield


def launch(count: int, name: str = "web") -> list[str]:
    """Start ``count`` instances, one reservation each (EC2 pages by reservation)."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
    return [
        ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=tags
        )["Instances"][0]["InstanceId"]
        for _ in range(count)
    ]


async def test_list_ec2_instances_pages_and_filters(
    aws: None, mcp_server: Any, tokens: Any
) -> None:
    ids = launch(7)
    boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=ids[:2])
    async with connect(mcp_server.url, tokens.access()) as client:
        first = (
            await client.call_tool("list_ec2_instances", {"max_results": 5})
        ).structured_content
        assert first is not None
        assert len(first["instances"]) == 5
        second = await client.call_tool(
            "list_ec2_instances", {"max_results": 5, "next_token": first["next_token"]}
        )
        stopped = await client.call_tool("list_ec2_instances", {"state": "stopped"})
        listed = (await client.list_tools()).tools
    assert second.structured_content is not None
    seen = {i["instance_id"] for i in first["instances"] + second.structured_content["instances"]}
    assert seen == set(ids)
    assert first["instances"][0]["name"] == "web"
    assert stopped.structured_content is not None
    assert {i["instance_id"] for i in stopped.structured_content["instances"]} == set(ids[:2])
    annotations = next(t for t in listed if t.name == "list_ec2_instances").annotations
    assert annotations is not None
    assert annotations.read_only_hint is True
    assert annotations.idempotent_hint is True


async def test_an_aws_failure_is_a_tool_error(aws: None, mcp_server: Any, tokens: Any) -> None:
    async with connect(mcp_server.url, tokens.access(("read", "write"))) as client:
        result = await client.call_tool(
            "stop_ec2_instance", {"instance_id": "i-0123456789abcdef0", "confirm": True}
        )
    assert result.is_error is True
    assert "AWS error InvalidInstanceID.NotFound" in result.content[0].text  # type: ignore[union-attr]


async def test_stopping_needs_confirmation_on_a_handshake_revision(
    aws: None, mcp_server: Any, tokens: Any
) -> None:
    (instance,) = launch(1)
    async with connect(mcp_server.url, tokens.access(("read", "write")), mode="legacy") as client:
        refused = await client.call_tool("stop_ec2_instance", {"instance_id": instance})
        stopped = await client.call_tool(
            "stop_ec2_instance", {"instance_id": instance, "confirm": True}
        )
    assert refused.is_error is True
    assert "confirm=true" in refused.content[0].text  # type: ignore[union-attr]
    assert stopped.is_error is False
    assert stopped.structured_content == {
        "instance_id": instance,
        "previous_state": "running",
        "current_state": "stopping",
    }


@pytest.mark.parametrize(
    ("action", "stops", "arguments"),
    [
        ("accept", True, {}),
        ("decline", False, {}),
        # The model cannot answer for the user: where the user can be asked, confirm is ignored.
        ("decline", False, {"confirm": True}),
    ],
)
async def test_stopping_asks_the_user_on_the_modern_revision(
    action: str, stops: bool, arguments: dict, aws: None, mcp_server: Any, tokens: Any
) -> None:
    (instance,) = launch(1)
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        content = {"confirm": True} if action == "accept" else None
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    async with connect(
        mcp_server.url,
        tokens.access(("read", "write")),
        mode=LATEST_MODERN_VERSION,
        elicitation_callback=elicit,
    ) as client:
        result = await client.call_tool("stop_ec2_instance", {"instance_id": instance, **arguments})
    assert asked == [f"Stop EC2 instance {instance}? It can be started again."]
    assert result.is_error is not stops
    state = boto3.client("ec2", region_name="us-east-1").describe_instances(InstanceIds=[instance])
    current = state["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert current == ("stopped" if stops else "running")


def invocation(model: str, caller: str, day: str, tokens_in: int, tokens_out: int) -> str:
    return json.dumps(
        {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": f"{day}T10:00:00Z",
            "accountId": "123456789012",
            "identity": {"arn": caller},
            "region": "us-east-1",
            "requestId": "r",
            "operation": "InvokeModel",
            "modelId": model,
            "input": {"inputContentType": "application/json", "inputTokenCount": tokens_in},
            "output": {"outputContentType": "application/json", "outputTokenCount": tokens_out},
        }
    )


@pytest.mark.parametrize("mode", ["legacy", LATEST_MODERN_VERSION])
async def test_bedrock_usage_report_with_progress(
    mode: str, aws: None, mcp_server: Any, tokens: Any
) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/aws/bedrock/modelinvocations")
    logs.create_log_stream(logGroupName="/aws/bedrock/modelinvocations", logStreamName="s")
    now = int(time.time() * 1000)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    alice = "arn:aws:iam::123456789012:user/alice"
    messages = [
        invocation("amazon.nova-lite-v1:0", alice, today, 100, 20),
        invocation("amazon.nova-lite-v1:0", alice, today, 50, 5),
        invocation(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", "bob", today, 7, 3
        ),
        "not a model invocation",
    ]
    logs.put_log_events(
        logGroupName="/aws/bedrock/modelinvocations",
        logStreamName="s",
        logEvents=[{"timestamp": now - 1000 + i, "message": m} for i, m in enumerate(messages)],
    )
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with connect(mcp_server.url, tokens.access(), mode=mode) as client:
        result = await client.call_tool(
            "bedrock_usage_report", {"days": 7}, progress_callback=on_progress
        )
    report = result.structured_content
    assert report is not None
    assert report["totals"] == {
        "requests": 3,
        "input_tokens": 157,
        "output_tokens": 28,
        "total_tokens": 185,
    }
    assert report["daily"] == {today: report["totals"]}
    assert report["models"]["amazon.nova-lite-v1:0"]["requests"] == 2
    assert report["models"]["anthropic.claude-v2"]["total_tokens"] == 10
    assert report["callers"][alice]["input_tokens"] == 150
    assert report["skipped_events"] == 1
    assert report["truncated"] is False
    assert progress == [(1, "Read 4 log events from /aws/bedrock/modelinvocations")]


async def test_bedrock_usage_report_names_the_aws_error(
    aws: None, mcp_server: Any, tokens: Any
) -> None:
    async with connect(mcp_server.url, tokens.access()) as client:
        result = await client.call_tool("bedrock_usage_report", {"log_group": "/missing"})
    assert result.is_error is True
    assert "ResourceNotFoundException" in result.content[0].text  # type: ignore[union-attr]


async def test_bad_arguments_are_a_tool_error(mcp_server: Any, tokens: Any) -> None:
    async with connect(mcp_server.url, tokens.access()) as client:
        result = await client.call_tool("list_ec2_instances", {"region": "../etc"})
    assert result.is_error is True


async def test_the_regions_resource_and_the_prompt(aws: None, mcp_server: Any, tokens: Any) -> None:
    async with connect(mcp_server.url, tokens.access()) as client:
        resources = (await client.list_resources()).resources
        regions = await client.read_resource("aws://ec2/regions")
        prompts = (await client.list_prompts()).prompts
        prompt = await client.get_prompt("summarize_log_group", {"log_group": "/aws/lambda/x"})
    assert [str(r.uri) for r in resources] == ["aws://ec2/regions"]
    assert "us-east-1" in json.loads(regions.contents[0].text)  # type: ignore[union-attr]
    assert [p.name for p in prompts] == ["summarize_log_group"]
    assert "/aws/lambda/x" in prompt.messages[0].content.text  # type: ignore[union-attr]


# -- malformed JSON-RPC ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], -32600),
        ([rpc("ping")], -32600),
        (5, -32600),
        ({"jsonrpc": "2.0", "id": 1}, -32600),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, -32600),
        (rpc("no/such/method"), -32601),
        (rpc("tools/call", {"name": 5}), -32602),
        (rpc("prompts/get", {"name": "no-such-prompt"}), -32602),
    ],
)
async def test_malformed_messages_get_their_json_rpc_error(
    body: Any, code: int, mcp_server: Any, tokens: Any
) -> None:
    response = await post(mcp_server.url, body, tokens.access(), mcp_protocol_version="2025-06-18")
    assert response.json()["error"]["code"] == code, response.text


async def test_a_body_that_is_not_json_is_a_parse_error(mcp_server: Any, tokens: Any) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            mcp_server.url,
            content=b'{"jsonrpc": "2.0", "id": 1, "method": ',
            headers={
                "accept": ACCEPT,
                "content-type": "application/json",
                "authorization": f"Bearer {tokens.access()}",
                "mcp-protocol-version": "2025-06-18",
            },
        )
    assert response.json()["error"]["code"] == -32700


async def test_browser_clients_on_an_allowed_origin_get_cors(mcp_server: Any) -> None:
    (origin,) = mcp_server.settings.allowed_origins
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            mcp_server.url,
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,mcp-protocol-version",
            },
        )
        refused = await http.post(mcp_server.url, json=initialize(), headers={"origin": origin})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()

"""The AWS SAM template (infra/aws/template.yaml): lint, transform, routing, IAM and wiring.

The routing, IAM and environment checks read the template after the SAM transform, i.e. the plain
CloudFormation that AWS deploys. The environment check feeds each function's variables, resolved
for a sample deployment, to that deployable's own ``Settings.from_env``: a variable a settings
object starts to require without the template wiring it fails here, naming the variable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from moto import mock_aws

from authproxy import settings as authproxy_settings
from authproxy.store import dynamodb
from gateway import settings as gateway_settings
from mcpserver import settings as mcpserver_settings
from mcpserver.server import SCOPE_DESCRIPTIONS
from support import sam_template
from support.sam_template import (
    ACCOUNT,
    DOMAIN,
    EXISTING_POOL,
    FACADE_PATHS,
    MCP_PATHS,
    NEW_POOL,
    REGION,
    TEMPLATE,
    Deployment,
    alb_path_matches,
    function_environment,
)

UNROUTED_PATHS = ("/", "/admin", "/mcpx", "/.well-known/security.txt", "/tokens")
# The gateway's paths (design D12), served only when the stack deploys it.
GATEWAY_PATHS = ("/mcp/notes", "/.well-known/oauth-protected-resource/mcp/notes")

# Actions AWS authorizes only with Resource "*" (no resource-level permissions).
UNSCOPABLE_ACTIONS = frozenset({"ec2:DescribeInstances", "ec2:DescribeRegions"})
# What the façade's serving paths call (authproxy/clients.py, cognito_admin.py, store/dynamodb.py);
# nothing only the operator CLI uses. TransactWriteItems is authorized per item as these actions.
FACADE_COGNITO_ACTIONS = frozenset(
    {
        "cognito-idp:CreateUserPoolClient",
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:DeleteUserPoolClient",
    }
)
FACADE_DYNAMODB_ACTIONS = frozenset(
    {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
)
# What `authproxy clients` (authproxy/manage.py) and the README's operator steps call.
OPERATOR_ACTIONS = {
    "BackingClients": {
        "cognito-idp:ListUserPoolClients",
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:UpdateUserPoolClient",
        "cognito-idp:DeleteUserPoolClient",
        "cognito-idp:AdminUserGlobalSignOut",
    },
    "Registrations": {
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "KeyRotation": {
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    },
}
POOL_ARN = {
    "Fn::Sub": [
        "arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/${PoolId}",
        {
            "PoolId": {
                "Fn::If": ["CreateUserPool", {"Ref": "UserPool"}, {"Ref": "ExistingUserPoolId"}]
            }
        },
    ]
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_template.load()


@pytest.fixture(scope="module")
def deployed(template: dict[str, Any]) -> dict[str, Any]:
    return sam_template.transform(template)


def resources_of(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


# ------------------------------------------------------------------------------------------ tools


def test_cfn_lint_reports_nothing() -> None:
    config = ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"])
    matches = lint_file(TEMPLATE, config)
    assert [str(m) for m in matches] == []


def test_sam_transform_leaves_plain_cloudformation(deployed: dict[str, Any]) -> None:
    kinds = {resource["Type"] for resource in deployed["Resources"].values()}
    assert not any(kind.startswith("AWS::Serverless::") for kind in kinds)
    functions = resources_of(deployed, "AWS::Lambda::Function")
    assert set(functions) == {"AuthProxyFunction", "McpServerFunction"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["Runtime"] in ("python3.12", "python3.13")
        assert properties["Architectures"] == ["arm64"]
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert "LogGroup" in properties["LoggingConfig"]
    handlers = {name: f["Properties"]["Handler"] for name, f in functions.items()}
    assert handlers == {
        "AuthProxyFunction": "authproxy.lambda_handler.handler",
        "McpServerFunction": "mcpserver.lambda_handler.handler",
    }


# ---------------------------------------------------------------------------------------- routing


def function_behind(deployed: Mapping[str, Any], target_group: str) -> str:
    """Follow target group → alias → function to the function's logical id; for the gateway's
    ``ip`` target group, the ECS service that registers its tasks there."""
    if deployed["Resources"][target_group]["Properties"]["TargetType"] == "ip":
        (service,) = [
            name
            for name, service in resources_of(deployed, "AWS::ECS::Service").items()
            for balancer in service["Properties"]["LoadBalancers"]
            if balancer["TargetGroupArn"] == {"Ref": target_group}
        ]
        return service
    (target,) = deployed["Resources"][target_group]["Properties"]["Targets"]
    alias = deployed["Resources"][target["Id"]["Ref"]]
    assert alias["Type"] == "AWS::Lambda::Alias", "targets must be the SnapStart alias"
    return alias["Properties"]["FunctionName"]["Ref"]


def routing_table(deployed: Mapping[str, Any]) -> list[tuple[int, list[str], list[str], str]]:
    """``(priority, hosts, path patterns, function)`` for every rule, highest precedence first."""
    table = []
    for rule in resources_of(deployed, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        properties = rule["Properties"]
        conditions = {c["Field"]: c for c in properties["Conditions"]}
        (action,) = properties["Actions"]
        assert action["Type"] == "forward"
        table.append(
            (
                properties["Priority"],
                [h["Ref"] for h in conditions["host-header"]["HostHeaderConfig"]["Values"]],
                conditions["path-pattern"]["PathPatternConfig"]["Values"],
                function_behind(deployed, action["TargetGroupArn"]["Ref"]),
            )
        )
    return sorted(table)


def route(deployed: Mapping[str, Any], path: str) -> str | None:
    for _priority, _hosts, patterns, function in routing_table(deployed):
        if any(alb_path_matches(pattern, path) for pattern in patterns):
            return function
    return None


@pytest.mark.parametrize("path", FACADE_PATHS)
def test_facade_paths_reach_the_facade(deployed: dict[str, Any], path: str) -> None:
    assert route(deployed, path) == "AuthProxyFunction"


@pytest.mark.parametrize("path", MCP_PATHS)
def test_mcp_paths_reach_the_mcp_server(deployed: dict[str, Any], path: str) -> None:
    assert route(deployed, path) == "McpServerFunction"


@pytest.mark.parametrize("path", UNROUTED_PATHS)
def test_other_paths_get_the_listener_404(deployed: dict[str, Any], path: str) -> None:
    assert route(deployed, path) is None


def test_every_rule_is_bound_to_the_one_origin_within_alb_limits(deployed: dict[str, Any]) -> None:
    table = routing_table(deployed)
    priorities = [priority for priority, *_ in table]
    assert len(set(priorities)) == len(priorities)
    for _priority, hosts, patterns, _function in table:
        assert hosts == ["DomainName"]
        assert len(hosts) + len(patterns) <= 5  # ALB: five condition values per rule
        assert all(len(p) <= 128 for p in patterns)


def test_https_is_the_only_served_protocol(deployed: dict[str, Any]) -> None:
    listeners = resources_of(deployed, "AWS::ElasticLoadBalancingV2::Listener")
    by_protocol = {listener["Properties"]["Protocol"]: listener for listener in listeners.values()}
    assert set(by_protocol) == {"HTTPS", "HTTP"}
    (redirect,) = by_protocol["HTTP"]["Properties"]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    (default,) = by_protocol["HTTPS"]["Properties"]["DefaultActions"]
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "404"
    for rule in resources_of(deployed, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        assert rule["Properties"]["ListenerArn"] == {"Ref": "HttpsListener"}


def lambda_target_groups(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    groups = resources_of(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    return {k: v for k, v in groups.items() if v["Properties"]["TargetType"] == "lambda"}


def test_target_groups_pass_repeated_headers(deployed: dict[str, Any]) -> None:
    for group in lambda_target_groups(deployed).values():
        attributes = {a["Key"]: a["Value"] for a in group["Properties"]["TargetGroupAttributes"]}
        assert attributes["lambda.multi_value_headers.enabled"] == "true"


# -------------------------------------------------------------------------------------------- IAM


def statements(deployed: Mapping[str, Any], role: str) -> Iterator[dict[str, Any]]:
    """Every statement of a role's inline policies, both branches of a conditional policy."""
    properties = deployed["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in properties, "managed policies grant Resource '*'"
    for policy in properties["Policies"]:
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        for branch in branches:
            if branch != {"Ref": "AWS::NoValue"}:
                yield from branch["PolicyDocument"]["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_roles(deployed: Mapping[str, Any]) -> dict[str, str]:
    functions = resources_of(deployed, "AWS::Lambda::Function")
    return {name: f["Properties"]["Role"]["Fn::GetAtt"][0] for name, f in functions.items()}


def test_roles_grant_star_only_where_aws_allows_no_scoping(deployed: dict[str, Any]) -> None:
    for role in function_roles(deployed).values():
        for statement in statements(deployed, role):
            assert statement["Effect"] == "Allow"
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), actions
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= UNSCOPABLE_ACTIONS, actions


def test_cognito_actions_are_limited_to_the_pool(deployed: dict[str, Any]) -> None:
    roles = function_roles(deployed)
    granted = set()
    for role in roles.values():
        for statement in statements(deployed, role):
            actions = {a for a in as_list(statement["Action"]) if a.startswith("cognito-idp:")}
            if not actions:
                continue
            assert role == roles["AuthProxyFunction"]
            assert statement["Resource"] == POOL_ARN
            granted |= actions
    assert granted == FACADE_COGNITO_ACTIONS


def test_dynamodb_actions_are_limited_to_the_table(deployed: dict[str, Any]) -> None:
    roles = function_roles(deployed)
    granted = set()
    for role in roles.values():
        for statement in statements(deployed, role):
            actions = {a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")}
            if not actions:
                continue
            assert role == roles["AuthProxyFunction"]
            # Serving reads and writes items by key: no index, no Query, no Scan.
            assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["RegistrationsTable", "Arn"]}]
            granted |= actions
    assert granted == FACADE_DYNAMODB_ACTIONS


def test_the_serving_role_holds_exactly_what_serving_calls(deployed: dict[str, Any]) -> None:
    role = function_roles(deployed)["AuthProxyFunction"]
    granted = {a for s in statements(deployed, role) for a in as_list(s["Action"])}
    assert granted == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *FACADE_COGNITO_ACTIONS,
        *FACADE_DYNAMODB_ACTIONS,
        "secretsmanager:GetSecretValue",
    }
    # A compromised function must not rewrite other app clients of a shared pool, nor list them.
    assert "cognito-idp:UpdateUserPoolClient" not in granted
    assert "dynamodb:Scan" not in granted


def test_operators_get_their_own_managed_policy(deployed: dict[str, Any]) -> None:
    (name,) = resources_of(deployed, "AWS::IAM::ManagedPolicy")
    properties = deployed["Resources"][name]["Properties"]
    assert not {"Roles", "Users", "Groups"} & set(properties), "operators attach it themselves"
    by_sid = {s["Sid"]: s for s in properties["PolicyDocument"]["Statement"]}
    assert {sid: set(s["Action"]) for sid, s in by_sid.items()} == OPERATOR_ACTIONS
    assert all(s["Effect"] == "Allow" for s in by_sid.values())
    assert by_sid["BackingClients"]["Resource"] == POOL_ARN
    assert by_sid["Registrations"]["Resource"] == [
        {"Fn::GetAtt": ["RegistrationsTable", "Arn"]},
        {"Fn::Sub": "${RegistrationsTable.Arn}/index/*"},
    ]
    assert by_sid["KeyRotation"]["Resource"] == [
        {"Ref": "SealingSecret"},
        {"Ref": "McpSessionSecret"},
    ]
    assert deployed["Outputs"]["OperatorPolicyArn"]["Value"] == {"Ref": name}
    # The rotation steps in the README start from the secrets' ARNs.
    assert deployed["Outputs"]["SealingSecretArn"]["Value"] == {"Ref": "SealingSecret"}
    assert deployed["Outputs"]["McpSessionSecretArn"]["Value"] == {"Ref": "McpSessionSecret"}
    # Every operator action on Cognito or DynamoDB that serving lacks is the operator's alone.
    operator_only = (OPERATOR_ACTIONS["BackingClients"] | OPERATOR_ACTIONS["Registrations"]) - (
        FACADE_COGNITO_ACTIONS | FACADE_DYNAMODB_ACTIONS
    )
    assert operator_only == {
        "cognito-idp:ListUserPoolClients",
        "cognito-idp:UpdateUserPoolClient",
        "cognito-idp:AdminUserGlobalSignOut",
        "dynamodb:Scan",
        "dynamodb:Query",
    }


def test_each_function_reads_only_its_own_secret(deployed: dict[str, Any]) -> None:
    expected = {"AuthProxyFunction": "SealingSecret", "McpServerFunction": "McpSessionSecret"}
    for function, role in function_roles(deployed).items():
        secrets = [
            statement["Resource"]
            for statement in statements(deployed, role)
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        ]
        assert secrets == [{"Ref": expected[function]}]


def test_stopping_instances_needs_the_stoppable_tag(deployed: dict[str, Any]) -> None:
    role = function_roles(deployed)["McpServerFunction"]
    (stop,) = [s for s in statements(deployed, role) if "ec2:StopInstances" in as_list(s["Action"])]
    assert stop["Condition"] == {
        "StringEquals": {"aws:ResourceTag/mcp-stoppable": {"Ref": "StoppableTagValue"}}
    }


# ------------------------------------------------------------------------------- wiring to settings


def physical_ids(deployed: Mapping[str, Any]) -> dict[str, str]:
    """What ``Ref`` returns for each resource; secrets are created in moto's Secrets Manager."""
    client = boto3.client("secretsmanager", region_name=REGION)
    ids = {}
    for name, resource in deployed["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::SecretsManager::Secret":
            created = client.create_secret(Name=name, SecretString="k" * 64)
            ids[name] = created["ARN"]
        elif kind == "AWS::Cognito::UserPool":
            ids[name] = f"{REGION}_Created1"
        else:
            ids[name] = f"authproxy-{name}-1A2B3C"
    return ids


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("parameters", [NEW_POOL, EXISTING_POOL], ids=["new-pool", "existing-pool"])
def test_functions_environments_satisfy_their_settings(
    deployed: dict[str, Any], parameters: dict[str, str]
) -> None:
    deployment = Deployment(deployed, parameters, physical_ids(deployed))
    facade = authproxy_settings.Settings.from_env(
        function_environment(deployment, "AuthProxyFunction")
    )
    mcp = mcpserver_settings.Settings.from_env(
        function_environment(deployment, "McpServerFunction")
    )

    assert facade.issuer == mcp.issuer == f"https://{DOMAIN}"
    assert facade.default_resource.uri == mcp.mcp_url == f"https://{DOMAIN}/mcp"
    assert facade.user_pool_id == deployment.value(
        {"Fn::If": ["CreateUserPool", {"Ref": "UserPool"}, {"Ref": "ExistingUserPoolId"}]}
    )
    assert facade.store_url == "dynamodb://authproxy-RegistrationsTable-1A2B3C"
    assert facade.secret_arn == deployment.physical["SealingSecret"]
    assert mcp.cognito_issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{facade.user_pool_id}"
    assert set(mcp.scopes) == set(facade.default_resource.scopes)
    # The log group the role may read is the one the usage tool reads.
    assert mcp.bedrock_log_group == deployment.value({"Ref": "BedrockLogGroupName"})


@pytest.mark.usefixtures("aws_credentials")
def test_cognito_domain_follows_the_pool_choice(deployed: dict[str, Any]) -> None:
    ids = physical_ids(deployed)
    new = function_environment(Deployment(deployed, NEW_POOL, ids), "AuthProxyFunction")
    existing = function_environment(Deployment(deployed, EXISTING_POOL, ids), "AuthProxyFunction")
    assert new["COGNITO_DOMAIN"] == (
        f"https://authproxy-UserPoolDomain-1A2B3C.auth.{REGION}.amazoncognito.com"
    )
    assert existing["COGNITO_DOMAIN"] == "https://login.example.com"
    assert existing["USER_POOL_ID"] == EXISTING_POOL["ExistingUserPoolId"]


def test_resource_server_identifier_is_the_mcp_url(template: dict[str, Any]) -> None:
    server = template["Resources"]["McpResourceServer"]
    assert server["Properties"]["Identifier"] == {"Fn::Sub": "https://${DomainName}/mcp"}
    names = [scope["ScopeName"] for scope in server["Properties"]["Scopes"]]
    assert names == ["read", "write"]


@pytest.mark.usefixtures("aws_credentials")
def test_scopes_are_described_in_the_same_words_on_the_consent_page_and_in_cognito(
    deployed: dict[str, Any],
) -> None:
    server = deployed["Resources"]["McpResourceServer"]
    in_cognito = {s["ScopeName"]: s["ScopeDescription"] for s in server["Properties"]["Scopes"]}
    environment = function_environment(
        Deployment(deployed, NEW_POOL, physical_ids(deployed)), "AuthProxyFunction"
    )
    facade = authproxy_settings.Settings.from_env(environment).default_resource
    assert in_cognito == dict(facade.descriptions) == SCOPE_DESCRIPTIONS


@pytest.mark.usefixtures("aws_credentials")
def test_registrations_table_is_the_one_the_store_creates(template: dict[str, Any]) -> None:
    table = template["Resources"]["RegistrationsTable"]
    properties = table["Properties"]
    client = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(client, "registrations")
    created = client.describe_table(TableName="registrations")["Table"]

    def keys(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in definition["KeySchema"]]

    assert keys(properties) == keys(created)
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        created["AttributeDefinitions"], key=str
    )
    assert [(i["IndexName"], keys(i)) for i in properties["GlobalSecondaryIndexes"]] == [
        (i["IndexName"], keys(i)) for i in created["GlobalSecondaryIndexes"]
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_log_reads_are_limited_to_the_bedrock_log_group(deployed: dict[str, Any]) -> None:
    role = function_roles(deployed)["McpServerFunction"]
    (read,) = [
        s for s in statements(deployed, role) if "logs:FilterLogEvents" in as_list(s["Action"])
    ]
    assert read["Resource"]["Fn::Sub"].endswith(":log-group:${BedrockLogGroupName}:*")
    writes = [s for s in statements(deployed, role) if "logs:PutLogEvents" in as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == [{"Fn::GetAtt": ["McpServerLogGroup", "Arn"]}]


def test_every_target_group_and_function_has_its_alarms(template: dict[str, Any]) -> None:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    target_5xx = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        if alarm["Properties"].get("MetricName") == "HTTPCode_Target_5XX_Count"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "TargetGroup"
    }
    # Application errors arrive as 500 responses of successful invocations: only the target
    # group's 5xx count sees them.
    assert target_5xx == set(resources_of(template, "AWS::ElasticLoadBalancingV2::TargetGroup"))
    for function in resources_of(template, "AWS::Serverless::Function"):
        text = [json.dumps(alarm["Properties"]) for alarm in alarms]
        watched = {
            metric
            for metric in ("Errors", "Duration", "Throttles")
            for properties in text
            if function in properties and f'"{metric}"' in properties
        }
        assert watched == {"Errors", "Duration", "Throttles"}, function


def test_each_target_group_may_invoke_the_alias_it_registers(template: dict[str, Any]) -> None:
    permissions = resources_of(template, "AWS::Lambda::Permission")
    for name, group in lambda_target_groups(template).items():
        (target,) = group["Properties"]["Targets"]
        depends = group.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        (permission,) = [d for d in depends if d in permissions]
        properties = permissions[permission]["Properties"]
        assert properties["Principal"] == "elasticloadbalancing.amazonaws.com", name
        assert properties["FunctionName"] == target["Id"], name  # the same alias, SnapStart's
        assert target["Id"]["Ref"].endswith(".Alias"), name


# ========================================================== gateway (design D12), optional

GATEWAY = {
    **NEW_POOL,
    "GatewayImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gateway:1",
    "GatewayUpstreamName": "notes",
    "GatewayUpstreamUrl": "http://10.0.0.5:3001/mcp",
}


@pytest.mark.parametrize("path", GATEWAY_PATHS)
def test_gateway_paths_reach_the_gateway_only_when_it_is_deployed(
    deployed: dict[str, Any], path: str
) -> None:
    assert route(deployed, path) == "GatewayService"
    (rule,) = [
        r
        for r in resources_of(deployed, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if r["Properties"]["Actions"][0]["TargetGroupArn"] == {"Ref": "GatewayTargetGroup"}
    ]
    assert rule["Condition"] == "DeployGateway"
    assert Deployment(deployed, NEW_POOL, {}).condition("DeployGateway") is False
    assert Deployment(deployed, GATEWAY, {}).condition("DeployGateway") is True


def test_every_gateway_resource_exists_only_with_the_gateway(template: dict[str, Any]) -> None:
    for name, resource in template["Resources"].items():
        if name.startswith("Gateway") or name == "LoadBalancerToGateway":
            assert resource.get("Condition") == "DeployGateway", name


def test_the_gateway_reads_only_its_own_secret_and_is_reached_only_from_the_balancer(
    deployed: dict[str, Any],
) -> None:
    (task_statement,) = statements(deployed, "GatewayTaskRole")
    assert task_statement["Action"] == "secretsmanager:GetSecretValue"
    assert task_statement["Resource"] == {"Ref": "GatewaySecret"}
    group = deployed["Resources"]["GatewaySecurityGroup"]["Properties"]
    (ingress,) = group["SecurityGroupIngress"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "LoadBalancerSecurityGroup"}
    assert "CidrIp" not in ingress


def container_environment(deployment: Deployment) -> dict[str, str]:
    task = deployment.template["Resources"]["GatewayTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    return {item["Name"]: deployment.value(item["Value"]) for item in container["Environment"]}


@pytest.mark.usefixtures("aws_credentials")
def test_gateway_environment_satisfies_its_settings_and_agrees_with_the_facade(
    deployed: dict[str, Any],
) -> None:
    physical = physical_ids(deployed)
    deployment = Deployment(deployed, GATEWAY, physical)
    gateway = gateway_settings.Settings.from_env(container_environment(deployment))
    facade = authproxy_settings.Settings.from_env(
        function_environment(deployment, "AuthProxyFunction")
    )
    (upstream,) = gateway.upstreams
    assert upstream.resource == f"https://{DOMAIN}/mcp/notes"
    assert upstream.url == GATEWAY["GatewayUpstreamUrl"]
    assert upstream.resource in {resource.uri for resource in facade.resources}
    assert gateway.issuer == facade.issuer
    assert gateway.cognito_issuer == facade.cognito_issuer
    identifier = deployment.value(
        deployed["Resources"]["GatewayResourceServer"]["Properties"]["Identifier"]
    )
    assert identifier == upstream.resource
    health = deployed["Resources"]["GatewayTargetGroup"]["Properties"]["HealthCheckPath"]
    assert deployment.value(health) == "/.well-known/oauth-protected-resource/mcp/notes"
    # Without the gateway the façade fronts the MCP server alone.
    alone = Deployment(deployed, NEW_POOL, physical)
    facade_alone = authproxy_settings.Settings.from_env(
        function_environment(alone, "AuthProxyFunction")
    )
    assert [resource.uri for resource in facade_alone.resources] == [f"https://{DOMAIN}/mcp"]

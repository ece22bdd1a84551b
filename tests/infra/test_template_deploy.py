"""The SAM-transformed template deployed into moto's CloudFormation (in-process ``mock_aws``).

For a new pool and for an existing one, this proves that the template's resources create and wire
up without an AWS account: the stack reaches CREATE_COMPLETE, the table is the one the store
expects, each function's environment, as CloudFormation resolved it, satisfies its deployable's
``Settings.from_env``, the roles name the table, the pool and the secrets that exist, the listener
routes each path to the function that serves it, the web ACL guards the load balancer, and the
alarms and the dashboard watch the functions, load balancer and topic the stack created.

moto 5.2.5's CloudFormation cannot create every type the template uses. Those resources are
provisioned instead through their own moto service APIs, from the template's properties, and their
``Ref``/``Fn::GetAtt`` in the rest of the template are replaced by the values those calls return:

- before the stack: ``AWS::Cognito::UserPool``, ``UserPoolDomain`` and ``UserPoolResourceServer``
  (Cognito IdP API, with the scopes), ``AWS::SecretsManager::Secret`` (values from
  ``GetRandomPassword`` with the template's ``GenerateSecretString``);
- between the stack's creation and its update (below): ``AWS::Lambda::Alias`` (Lambda API, on
  the version the stack published; its ARN is substituted where the template names it);
- after the stack, because they need what it created: ``AWS::S3::BucketPolicy`` (the load
  balancer's log delivery; the load balancer's ``DependsOn`` on it is dropped),
  ``AWS::WAFv2::WebACL`` and ``WebACLAssociation`` (WAFv2 API), every
  ``AWS::CloudWatch::Alarm`` (``PutMetricAlarm``), and the ``AWS::CloudWatch::Dashboard``
  (``PutDashboard``): moto creates dashboards, but its target groups answer no ``Fn::GetAtt``, and
  the dashboard reads their ``TargetGroupFullName``.

Two properties moto's CloudFormation accepts but does not apply are applied through their APIs
after the stack, from the template: the table's ``TimeToLiveSpecification`` (``UpdateTimeToLive``)
and each function's ``ReservedConcurrentExecutions`` (``PutFunctionConcurrency``) if the function
came out without it. moto's target groups also ignore ``Targets``, so the routing check reads a
target group's targets from the template CloudFormation received.

The aliases cannot exist before the functions' versions, and the permissions, target groups and
listener rules name them: the stack is created without those, the aliases are created on the
versions it published, and an update adds the rest.

Dropped: ``AWS::SNS::Subscription`` is conditional on ``AlarmEmail`` and not part of this
deployment (an e-mail subscription needs its recipient to confirm it anyway), and
``AWS::EC2::SecurityGroupEgress`` belongs to the optional gateway (``GatewayImageUri``), which
these deployments leave out, as they do its other resources.
``test_the_stand_ins_are_exactly_what_moto_lacks`` keeps this list true when moto learns a type or
the template gains one.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map

from authproxy import settings as authproxy_settings
from authproxy.store import dynamodb
from mcpserver import settings as mcpserver_settings
from support import sam_template
from support.sam_template import (
    DOMAIN,
    FACADE_PATHS,
    LAMBDA_RESERVED,
    MCP_PATHS,
    REGION,
    Deployment,
    alb_path_matches,
)

STACK = "authproxy"
ARTIFACTS = "authproxy-artifacts"
INTRINSICS = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Join", "Fn::FindInMap"})
# Types moto's CloudFormation lacks, by when this test provisions them (see the docstring).
BEFORE_THE_STACK = frozenset(
    {
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolDomain",
        "AWS::Cognito::UserPoolResourceServer",
        "AWS::SecretsManager::Secret",
    }
)
# Resources moto could create but which read an attribute it does not answer.
UNANSWERED_ATTRIBUTES = frozenset({"Dashboard"})
AFTER_THE_STACK = frozenset(
    {
        "AWS::Lambda::Alias",
        "AWS::S3::BucketPolicy",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::CloudWatch::Alarm",
    }
)
# The e-mail subscription, and the gateway's load-balancer egress rule: the optional gateway
# (GatewayImageUri) is not part of these deployments.
NOT_DEPLOYED_HERE = frozenset({"AWS::SNS::Subscription", "AWS::EC2::SecurityGroupEgress"})


@dataclass
class Deployed:
    """What the deployment produced: physical ids by logical id, and the stack's outcome."""

    status: str
    #: The pool the functions use: the stack's own, or the existing one named by parameters.
    pool_id: str = ""
    cognito_domain: str = ""
    updated: str = ""
    physical: dict[str, str] = field(default_factory=dict)
    web_acl_arn: str = ""


def resolve(deployment: Deployment, node: Any) -> Any:
    """Template properties with intrinsics resolved and YAML's own types kept (the APIs want
    booleans and numbers where the template has them)."""
    if isinstance(node, list):
        return [resolve(deployment, item) for item in node]
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)) in INTRINSICS:
            return deployment.value(node)
        return {key: resolve(deployment, item) for key, item in node.items()}
    return node


def substitute(node: Any, values: Mapping[str, Any]) -> Any:
    """``node`` with ``Ref``/``Fn::GetAtt``/``${…}`` of the resources in ``values`` replaced.

    ``values`` maps ``"Logical"`` (what ``Ref`` returns) and ``"Logical.Attribute"`` to a literal
    or to an expression CloudFormation resolves itself.
    """
    if isinstance(node, list):
        return [substitute(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if set(node) == {"Fn::GetAtt"} and ".".join(node["Fn::GetAtt"]) in values:
        return values[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::Sub"}:
        pattern, variables = (
            node["Fn::Sub"] if isinstance(node["Fn::Sub"], list) else (node["Fn::Sub"], {})
        )
        for name, value in values.items():
            if isinstance(value, str):
                pattern = pattern.replace("${" + name + "}", value)
        variables = substitute(variables, values)
        return {"Fn::Sub": [pattern, variables] if variables else pattern}
    return {key: substitute(item, values) for key, item in node.items()}


def code_zip() -> bytes:
    """A stand-in deployment package: the stack is about wiring, nothing here is invoked."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def create_pool(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A user pool through the Cognito IdP API from ``AWS::Cognito::UserPool`` properties."""
    return boto3.client("cognito-idp", region_name=REGION).create_user_pool(
        PoolName=properties["UserPoolName"],
        DeletionProtection=properties["DeletionProtection"],
        UsernameAttributes=properties["UsernameAttributes"],
        AutoVerifiedAttributes=properties["AutoVerifiedAttributes"],
        AdminCreateUserConfig=properties["AdminCreateUserConfig"],
        MfaConfiguration=properties["MfaConfiguration"],
        Policies=properties["Policies"],
    )["UserPool"]


def provision_before(deployment: Deployment) -> dict[str, Any]:
    """The Cognito pool and domain (when the stack creates them), the resource server and the
    secrets, from the template's properties; returns what their ``Ref``/``Fn::GetAtt`` stand
    for."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    resources = deployment.template["Resources"]
    values: dict[str, Any] = {}

    if deployment.condition(resources["UserPool"]["Condition"]):
        created = create_pool(resolve(deployment, resources["UserPool"]["Properties"]))
        values["UserPool"] = deployment.physical["UserPool"] = created["Id"]
        values["UserPool.Arn"] = created["Arn"]

        domain = resolve(deployment, resources["UserPoolDomain"]["Properties"])
        cognito.create_user_pool_domain(Domain=domain["Domain"], UserPoolId=domain["UserPoolId"])
        values["UserPoolDomain"] = deployment.physical["UserPoolDomain"] = domain["Domain"]

    server = resolve(deployment, resources["McpResourceServer"]["Properties"])
    cognito.create_resource_server(
        UserPoolId=server["UserPoolId"],
        Identifier=server["Identifier"],
        Name=server["Name"],
        Scopes=server["Scopes"],
    )
    values["McpResourceServer"] = server["Identifier"]

    for name, resource in resources.items():
        if resource["Type"] != "AWS::SecretsManager::Secret":
            continue
        properties = resolve(deployment, resource["Properties"])
        generated = secrets.get_random_password(**properties["GenerateSecretString"])
        arn = secrets.create_secret(
            Name=f"{STACK}-{name}",
            Description=properties["Description"],
            SecretString=generated["RandomPassword"],
        )["ARN"]
        values[name] = deployment.physical[name] = arn
    return values


def references(node: Any) -> set[str]:
    """The logical ids ``node`` names through ``Ref``, ``Fn::GetAtt``, ``${…}`` or ``DependsOn``."""
    if isinstance(node, list):
        return set().union(*(references(item) for item in node)) if node else set()
    if isinstance(node, str):
        return {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", node)}
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for key, item in node.items():
        if key == "Ref" and isinstance(item, str):
            found.add(item)
        elif key == "Fn::GetAtt":
            found.add(item[0] if isinstance(item, list) else item.split(".")[0])
        elif key == "DependsOn":
            found |= {item} if isinstance(item, str) else set(item)
        else:
            found |= references(item)
    return found


def stack_template(
    deployment: Deployment,
    values: Mapping[str, Any],
    later: set[str],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The template CloudFormation gets: provisioned resources replaced by their values and the
    ones provisioned after the stack left out. Without ``aliases`` (the first pass) it also
    leaves out whatever names an alias, which cannot exist before the functions' versions do;
    the second pass (an update) adds those, each alias named by its ARN. Resources whose
    condition is false with these parameters are left out, as CloudFormation would."""
    template = deployment.template
    resources = template["Resources"]
    waiting = {n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"}
    if aliases is None:
        grew = True
        while grew:
            dependents = {n for n, r in resources.items() if references(r) & waiting}
            grew = not dependents <= waiting
            waiting |= dependents
    absent = {
        n
        for n, r in resources.items()
        if "Condition" in r and not deployment.condition(r["Condition"])
    }
    kept = {}
    for name, resource in resources.items():
        if name in values or name in later or name in absent:
            continue
        if aliases is None and name in waiting:
            continue
        resource = substitute(resource, {**values, **(aliases or {})})
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d not in later]
        kept[name] = resource
    body = {key: value for key, value in template.items() if key not in ("Resources", "Outputs")}
    body["Resources"] = kept
    body["Outputs"] = {
        name: substitute(output, {**values, **(aliases or {})})
        for name, output in template["Outputs"].items()
        if {r for r in references(output) if not r.startswith("AWS::")}
        <= set(kept) | set(values) | set(template["Parameters"])
    }
    return body


def apply_what_moto_ignores(deployment: Deployment, physical: Mapping[str, str]) -> None:
    """The table's TTL and the functions' reserved concurrency, from the template's properties."""
    lambda_ = boto3.client("lambda", region_name=REGION)
    for name, resource in deployment.template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::DynamoDB::Table":
            boto3.client("dynamodb", region_name=REGION).update_time_to_live(
                TableName=physical[name],
                TimeToLiveSpecification=properties["TimeToLiveSpecification"],
            )
        elif resource["Type"] == "AWS::Lambda::Function":
            current = lambda_.get_function_concurrency(FunctionName=physical[name])
            if "ReservedConcurrentExecutions" not in current:
                reserved = deployment.value(properties["ReservedConcurrentExecutions"])
                lambda_.put_function_concurrency(
                    FunctionName=physical[name], ReservedConcurrentExecutions=int(reserved)
                )


def provision_after(deployed: Deployed, deployment: Deployment, later: set[str]) -> None:
    """What the stack could not create, once it exists: the log bucket's policy, the web ACL and
    its association, the dashboard and the alarms (plus what moto ignored)."""
    resources = deployment.template["Resources"]
    physical = deployed.physical
    deployment.physical.update(physical)
    # What Fn::GetAtt returns for the attributes the remaining resources read.
    for name, resource in resources.items():
        if name not in physical:  # conditional, and not part of this deployment (the gateway)
            continue
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            deployment.attributes[f"{name}.LoadBalancerFullName"] = physical[name].split(
                ":loadbalancer/"
            )[1]
        elif resource["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup":
            deployment.attributes[f"{name}.TargetGroupFullName"] = physical[name].split(":")[-1]
        elif resource["Type"] == "AWS::S3::Bucket":
            deployment.attributes[f"{name}.Arn"] = f"arn:aws:s3:::{physical[name]}"

    apply_what_moto_ignores(deployment, physical)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    wafv2 = boto3.client("wafv2", region_name=REGION)
    # Kinds in dependency order: an association names its web ACL.
    order = [
        "AWS::Lambda::Alias",  # created between the two passes (create_aliases)
        "AWS::S3::BucketPolicy",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudWatch::Alarm",
    ]
    deployed_here = {
        name
        for name in later
        if "Condition" not in resources[name] or deployment.condition(resources[name]["Condition"])
    }
    for name in sorted(deployed_here, key=lambda n: (order.index(resources[n]["Type"]), n)):
        resource = resources[name]
        kind = resource["Type"]
        if kind == "AWS::Lambda::Alias":
            continue
        properties = resolve(deployment, resource["Properties"])
        if kind == "AWS::S3::BucketPolicy":
            boto3.client("s3", region_name=REGION).put_bucket_policy(
                Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"])
            )
        elif kind == "AWS::WAFv2::WebACL":
            for rule in properties["Rules"]:
                statement = rule["Statement"]["RateBasedStatement"]
                statement["Limit"] = int(statement["Limit"])
            deployed.web_acl_arn = wafv2.create_web_acl(**properties)["Summary"]["ARN"]
            deployment.attributes[f"{name}.Arn"] = deployed.web_acl_arn
        elif kind == "AWS::WAFv2::WebACLAssociation":
            wafv2.associate_web_acl(**properties)
        elif kind == "AWS::CloudWatch::Dashboard":
            cloudwatch.put_dashboard(**properties)
        else:
            properties["Threshold"] = float(properties["Threshold"])
            cloudwatch.put_metric_alarm(AlarmName=f"{STACK}-{name}", **properties)


@pytest.fixture(scope="module", params=["new-pool", "existing-pool"])
def deployed(request: pytest.FixtureRequest) -> Iterator[Deployed]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.setenv(name, "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        template = sam_template.transform(sam_template.load(), bucket=ARTIFACTS)

        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": REGION})
        for name, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                s3.put_object(Bucket=ARTIFACTS, Key=f"{name}.zip", Body=code_zip())
        certificate = boto3.client("acm", region_name=REGION).request_certificate(
            DomainName=DOMAIN
        )["CertificateArn"]
        parameters = {"DomainName": DOMAIN, "CertificateArn": certificate}
        if request.param == "existing-pool":
            existing = create_pool(
                template["Resources"]["UserPool"]["Properties"] | {"UserPoolName": "existing"}
            )
            parameters |= {
                "ExistingUserPoolId": existing["Id"],
                "ExistingCognitoDomain": "https://login.example.com",
            }

        deployment = Deployment(template, parameters, physical={})
        values = provision_before(deployment)
        supported = get_model_map()
        later = {
            name
            for name, resource in template["Resources"].items()
            if resource["Type"] not in supported and name not in values
        } | UNANSWERED_ATTRIBUTES
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        arguments = {
            "StackName": STACK,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            "Capabilities": ["CAPABILITY_IAM"],
        }
        cloudformation.create_stack(
            TemplateBody=json.dumps(stack_template(deployment, values, later)), **arguments
        )
        result = Deployed(status=stack_status(cloudformation))
        if request.param == "existing-pool":
            result.pool_id = parameters["ExistingUserPoolId"]
            result.cognito_domain = parameters["ExistingCognitoDomain"]
        else:
            result.pool_id = values["UserPool"]
            domain = values["UserPoolDomain"]
            result.cognito_domain = f"https://{domain}.auth.{REGION}.amazoncognito.com"
        result.physical.update(values)
        result.physical.update(stack_resources(cloudformation))
        aliases = create_aliases(template, result.physical)
        cloudformation.update_stack(
            TemplateBody=json.dumps(stack_template(deployment, values, later, aliases)),
            **arguments,
        )
        result.updated = stack_status(cloudformation)
        result.physical.update(aliases)
        result.physical.update(stack_resources(cloudformation))
        provision_after(result, deployment, later)
        yield result


def stack_status(cloudformation: Any) -> str:
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    return stack["StackStatus"]


def stack_resources(cloudformation: Any) -> dict[str, str]:
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}


def create_aliases(template: Mapping[str, Any], physical: Mapping[str, str]) -> dict[str, str]:
    """Each ``AWS::Lambda::Alias`` through the Lambda API, on the version the stack published."""
    client = boto3.client("lambda", region_name=REGION)
    arns = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Alias":
            continue
        properties = resource["Properties"]
        function = physical[properties["FunctionName"]["Ref"]]
        # moto gives AWS::Lambda::Version no physical id: the function lists what it published.
        (version,) = [
            v["Version"]
            for v in client.list_versions_by_function(FunctionName=function)["Versions"]
            if v["Version"] != "$LATEST"
        ]
        created = client.create_alias(
            FunctionName=function, Name=properties["Name"], FunctionVersion=version
        )
        arns[name] = created["AliasArn"]
    return arns


def test_the_stand_ins_are_exactly_what_moto_lacks() -> None:
    kinds = {r["Type"] for r in sam_template.transform(sam_template.load())["Resources"].values()}
    assert kinds - set(get_model_map()) == BEFORE_THE_STACK | AFTER_THE_STACK | NOT_DEPLOYED_HERE


def test_stack_reaches_create_complete(deployed: Deployed) -> None:
    assert deployed.status == "CREATE_COMPLETE"
    assert deployed.updated == "UPDATE_COMPLETE"


def test_table_is_the_one_the_store_expects(deployed: Deployed) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(client, "reference")
    reference = client.describe_table(TableName="reference")["Table"]
    table = client.describe_table(TableName=deployed.physical["RegistrationsTable"])["Table"]
    for key in ("KeySchema", "AttributeDefinitions"):
        assert sorted(table[key], key=str) == sorted(reference[key], key=str)
    assert [(i["IndexName"], i["KeySchema"]) for i in table["GlobalSecondaryIndexes"]] == [
        (i["IndexName"], i["KeySchema"]) for i in reference["GlobalSecondaryIndexes"]
    ]
    # The store's single-use marks and unused registrations expire through TTL on expires_at.
    ttl = client.describe_time_to_live(TableName=deployed.physical["RegistrationsTable"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def environment(deployed: Deployed, function: str) -> dict[str, str]:
    """The function's environment on Lambda: as CloudFormation resolved it, plus the runtime's."""
    configuration = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=deployed.physical[function]
    )
    # moto passes a Number parameter through as a number; Lambda's environment holds strings.
    configured = {k: str(v) for k, v in configuration["Environment"]["Variables"].items()}
    assert not set(configured) & LAMBDA_RESERVED
    return configured | {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}


def test_functions_environments_satisfy_their_settings(deployed: Deployed) -> None:
    facade = authproxy_settings.Settings.from_env(environment(deployed, "AuthProxyFunction"))
    mcp = mcpserver_settings.Settings.from_env(environment(deployed, "McpServerFunction"))
    pool = deployed.pool_id
    assert facade.user_pool_id == pool
    assert mcp.cognito_issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{pool}"
    assert facade.store_url == f"dynamodb://{deployed.physical['RegistrationsTable']}"
    assert facade.secret_arn == deployed.physical["SealingSecret"]
    assert facade.issuer == mcp.issuer == f"https://{DOMAIN}"
    assert facade.default_resource.uri == mcp.mcp_url == f"https://{DOMAIN}/mcp"
    assert environment(deployed, "AuthProxyFunction")["COGNITO_DOMAIN"] == deployed.cognito_domain
    # The pool's resource server grants exactly the scopes the two deployables use.
    server = boto3.client("cognito-idp", region_name=REGION).describe_resource_server(
        UserPoolId=pool, Identifier=mcp.mcp_url
    )["ResourceServer"]
    assert {s["ScopeName"] for s in server["Scopes"]} == set(mcp.scopes)
    assert set(facade.default_resource.scopes) == set(mcp.scopes)


def role_statements(deployed: Deployed, function: str) -> list[dict[str, Any]]:
    iam = boto3.client("iam", region_name=REGION)
    configuration = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=deployed.physical[function]
    )
    role = configuration["Role"].rsplit("/", 1)[1]
    found = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps the inline policies of a stack's roles as Python literals, not JSON.
            document = ast.literal_eval(document)
        found += document["Statement"]
    return found


def resources_for(statements: list[dict[str, Any]], prefix: str) -> set[str]:
    """Every resource named by a statement granting an action that starts with ``prefix``."""
    named: set[str] = set()
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if any(a.startswith(prefix) for a in actions):
            resources = statement["Resource"]
            named |= set(resources if isinstance(resources, list) else [resources])
    return named


def test_roles_name_the_resources_that_exist(deployed: Deployed) -> None:
    table = boto3.client("dynamodb", region_name=REGION).describe_table(
        TableName=deployed.physical["RegistrationsTable"]
    )["Table"]["TableArn"]
    pool = boto3.client("cognito-idp", region_name=REGION).describe_user_pool(
        UserPoolId=deployed.pool_id
    )["UserPool"]["Arn"]
    facade = role_statements(deployed, "AuthProxyFunction")
    assert resources_for(facade, "dynamodb:") == {table}
    assert resources_for(facade, "cognito-idp:") == {pool}
    assert resources_for(facade, "secretsmanager:") == {deployed.physical["SealingSecret"]}
    mcp = role_statements(deployed, "McpServerFunction")
    assert resources_for(mcp, "secretsmanager:") == {deployed.physical["McpSessionSecret"]}
    assert not resources_for(mcp, "dynamodb:") | resources_for(mcp, "cognito-idp:")


def test_listener_routes_each_path_to_its_function(deployed: Deployed) -> None:
    elbv2 = boto3.client("elbv2", region_name=REGION)
    rules = elbv2.describe_rules(ListenerArn=deployed.physical["HttpsListener"])["Rules"]
    aliases = {
        deployed.physical[group]: deployed.physical[f"{function}Aliaslive"]
        for group, function in (
            ("AuthProxyTargetGroup", "AuthProxyFunction"),
            ("McpServerTargetGroup", "McpServerFunction"),
        )
    }
    received = json.loads(
        json.dumps(
            boto3.client("cloudformation", region_name=REGION).get_template(StackName=STACK)[
                "TemplateBody"
            ]
        )
    )
    received = json.loads(received) if isinstance(received, str) else received
    for group in ("AuthProxyTargetGroup", "McpServerTargetGroup"):
        (target,) = received["Resources"][group]["Properties"]["Targets"]
        assert target["Id"] == aliases[deployed.physical[group]], group

    def route(path: str) -> str | None:
        for rule in sorted(
            (r for r in rules if not r["IsDefault"]), key=lambda r: int(r["Priority"])
        ):
            conditions = {c["Field"]: c for c in rule["Conditions"]}
            hosts = conditions["host-header"]["HostHeaderConfig"]["Values"]
            patterns = conditions["path-pattern"]["PathPatternConfig"]["Values"]
            if DOMAIN in hosts and any(alb_path_matches(p, path) for p in patterns):
                (action,) = rule["Actions"]
                return aliases[action["TargetGroupArn"]]
        return None

    facade = deployed.physical["AuthProxyFunctionAliaslive"]
    mcp = deployed.physical["McpServerFunctionAliaslive"]
    assert {path: route(path) for path in FACADE_PATHS} == dict.fromkeys(FACADE_PATHS, facade)
    assert {path: route(path) for path in MCP_PATHS} == dict.fromkeys(MCP_PATHS, mcp)
    assert route("/admin") is None


def test_rate_limits_guard_the_load_balancer(deployed: Deployed) -> None:
    waf = boto3.client("wafv2", region_name=REGION)
    acl = waf.get_web_acl_for_resource(ResourceArn=deployed.physical["LoadBalancer"])["WebACL"]
    assert acl["ARN"] == deployed.web_acl_arn
    limited = {
        rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["ByteMatchStatement"][
            "SearchString"
        ]
        for rule in acl["Rules"]
    }
    assert {s.decode() if isinstance(s, bytes) else s for s in limited} == {
        "/register",
        "/authorize",
        "/token",
    }


def test_reserved_concurrency_is_set_on_both_functions(deployed: Deployed) -> None:
    client = boto3.client("lambda", region_name=REGION)
    for function in ("AuthProxyFunction", "McpServerFunction"):
        reserved = client.get_function_concurrency(FunctionName=deployed.physical[function])
        assert reserved.get("ReservedConcurrentExecutions") == 100, function


def test_alarms_watch_what_the_stack_created(deployed: Deployed) -> None:
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
    topic = deployed.physical["AlarmTopic"]
    names = {a["AlarmName"].removeprefix(f"{STACK}-") for a in alarms}
    assert {"SignInFailureRateAlarm", "TokenErrorRateAlarm"} <= names
    for alarm in alarms:
        assert alarm["AlarmActions"] == [topic], alarm["AlarmName"]
        for dimension in alarm.get("Dimensions", []):
            if dimension["Name"] == "FunctionName":
                assert dimension["Value"] in {
                    deployed.physical["AuthProxyFunction"],
                    deployed.physical["McpServerFunction"],
                }


def test_dashboard_draws_the_stack_it_belongs_to(deployed: Deployed) -> None:
    client = boto3.client("cloudwatch", region_name=REGION)
    (entry,) = client.list_dashboards()["DashboardEntries"]
    body = client.get_dashboard(DashboardName=entry["DashboardName"])["DashboardBody"]
    text = json.dumps(json.loads(body))
    for resource in ("AuthProxyFunction", "McpServerFunction"):
        assert f'"{deployed.physical[resource]}"' in text, resource
    for group in ("AuthProxyTargetGroup", "McpServerTargetGroup"):
        assert deployed.physical[group].split(":")[-1] in text, group

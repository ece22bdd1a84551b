"""The AWS SAM template (infra/aws/template.yaml) as the infra tests read it: loaded, transformed
the way ``sam deploy`` hands it to CloudFormation, and resolved for one set of parameter values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "template.yaml"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
DOMAIN = "mcp.example.com"

# The paths each deployable serves on the one origin (design D7).
FACADE_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/register",
    "/register/3f2c8a9e-client",
    "/authorize",
    "/consent",
    "/callback",
    "/token",
    "/revoke",
)
MCP_PATHS = (
    "/mcp",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
)
# Environment variables Lambda sets itself and refuses in a function's configuration.
LAMBDA_RESERVED = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)

NEW_POOL = {"DomainName": DOMAIN, "CertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/1"}
EXISTING_POOL = {
    **NEW_POOL,
    "ExistingUserPoolId": f"{REGION}_Existing42",
    "ExistingCognitoDomain": "https://login.example.com",
}


def alb_path_matches(pattern: str, path: str) -> bool:
    """ALB path-pattern semantics: case-sensitive, ``*`` any run of characters, ``?`` one."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, path) is not None


def load() -> dict[str, Any]:
    """The template as written, short-form intrinsics expanded (``!Ref`` → ``{"Ref": …}``)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def transform(template: Mapping[str, Any], bucket: str = "artifacts") -> dict[str, Any]:
    """The template after the SAM transform, as ``sam deploy`` hands it to CloudFormation.

    ``sam package`` replaces each local ``CodeUri`` with the S3 object it uploaded
    (``s3://<bucket>/<function>.zip`` here); doing the same is what lets the transform run offline.
    """
    packaged = json.loads(json.dumps(template))
    for name, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{name}.zip"
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name=REGION),
    )
    return translator.translate(packaged, parameter_values={})


class Deployment:
    """Resolves intrinsic functions as CloudFormation would for one set of parameter values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        physical: dict[str, str],
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """``physical``: what ``Ref`` returns per resource; ``attributes``: ``Fn::GetAtt`` values
        by ``"Resource.Attribute"``."""
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
        } | dict(parameters)
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::StackName": "authproxy",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/authproxy/6a1b2c3d",
        }
        self.physical = physical
        self.attributes = dict(attributes or {})

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, expression: Mapping[str, Any]) -> bool:
        ((function, argument),) = expression.items()
        if function == "Fn::Equals":
            left, right = (self.value(a) for a in argument)
            return left == right
        if function == "Fn::Not":
            return not self.truth(argument[0])
        if function == "Condition":
            return self.condition(argument)
        raise AssertionError(f"condition function {function} is not modelled here")

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node if isinstance(node, str) else json.dumps(node)
        ((function, argument), *more) = node.items()
        if more or not (function == "Ref" or function.startswith("Fn::")):
            return {key: self.value(item) for key, item in node.items()}
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.value(when_true if self.condition(name) else when_false)
        if function == "Fn::GetAtt":
            return self.ref(".".join(argument))
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(self.value(items))
        if function == "Fn::Split":
            separator, text = argument
            return self.value(text).split(separator)
        if function == "Fn::Select":
            index, items = argument
            return self.value(items)[int(index)]
        if function == "Fn::FindInMap":
            mapping, key, entry = (self.value(a) for a in argument)
            return self.template["Mappings"][mapping][key][entry]
        if function == "Fn::Sub":
            pattern, variables = argument if isinstance(argument, list) else (argument, {})
            local = {key: self.value(item) for key, item in variables.items()}
            return re.sub(
                r"\$\{([^}]+)\}",
                lambda m: local.get(m[1]) or self.ref(m[1]),
                pattern,
            )
        raise AssertionError(f"intrinsic {function} is not modelled here")

    def ref(self, name: str) -> str:
        if name in self.attributes:
            return self.attributes[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical[name]


def function_environment(deployment: Deployment, function: str) -> dict[str, str]:
    """The function's environment on Lambda: its configured variables plus the runtime's own."""
    properties = deployment.template["Resources"][function]["Properties"]
    configured = deployment.value(properties["Environment"]["Variables"])
    assert not set(configured) & LAMBDA_RESERVED
    return configured | {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}

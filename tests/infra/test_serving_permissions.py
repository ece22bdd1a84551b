"""The façade's serving role in infra/aws/template.yaml covers every AWS call its requests make.

Full flows run against the local stack with the DynamoDB store and the ``dedicated`` policy (the
widest set of calls: a Cognito app client per registration, deleted with it), while every
botocore call the façade's own clients make is recorded. Each call, named by the IAM action AWS
authorizes it as, must be one the role grants: a request path that starts calling something new
fails here until the template grants it (or the call moves to the operator CLI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from cfnlint.decode import cfn_yaml

from authproxy.store.dynamodb import create_table
from devstack.cognito import CognitoStandIn
from devstack.stack import FAKE_AWS
from servicekit import aws
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "template.yaml"
REDIRECT = "http://localhost:8404/cb"
# TransactWriteItems is authorized item by item, as these actions.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def serving_role_actions() -> set[str]:
    template = cfn_yaml.load(str(TEMPLATE))
    policies = template["Resources"]["AuthProxyRole"]["Properties"]["Policies"]
    actions: set[str] = set()
    for policy in policies:
        for statement in policy["PolicyDocument"]["Statement"]:
            granted = statement["Action"]
            actions |= set(granted if isinstance(granted, list) else [granted])
    return actions


class Recorder:
    """Every AWS API call made through clients created after :meth:`start`, as IAM actions."""

    def __init__(self) -> None:
        self.actions: set[str] = set()

    def start(self) -> None:
        # Clients copy their session's event handlers when created: the stand-in's and the
        # test's own clients, made earlier, are not recorded; the façade's, made next, are.
        # The façade's clients come from servicekit.aws's botocore session.
        aws.session().register("provide-client-params", self.record)

    def stop(self) -> None:
        aws.session().unregister("provide-client-params", self.record)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.signing_name
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind,) = item
                self.actions.add(f"{service}:{TRANSACT_ACTIONS[kind]}")
        else:
            self.actions.add(f"{service}:{model.name}")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Recorder]]:
    recorder = Recorder()

    def dynamodb_table(standin: CognitoStandIn) -> dict[str, str]:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", standin.endpoint)
        client = boto3.client(
            "dynamodb",
            endpoint_url=standin.endpoint,
            region_name=standin.region,
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )
        table = f"registrations-{tmp_path.name}"
        create_table(client, table)
        recorder.start()
        return {"AUTHPROXY_STORE": f"dynamodb://{table}"}

    try:
        with local_stack(tmp_path, prepare=dynamodb_table, client_policy="dedicated") as stack:
            yield stack, recorder
    finally:
        recorder.stop()


def test_every_call_of_the_serving_paths_is_granted_to_the_serving_role(
    recorded: tuple[Stack, Recorder],
) -> None:
    stack, recorder = recorded
    client = stack.register(
        client_name="permissions",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="client_secret_post",
        grant_types=["authorization_code", "refresh_token"],
    )
    code, verifier, _ = obtain_code(stack, client)
    grant = {"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
    tokens = token_request(stack.issuer, client, {"grant_type": "authorization_code", **grant})
    assert tokens.status_code == 200, tokens.text
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
    refreshed = token_request(stack.issuer, client, refresh)
    assert refreshed.status_code == 200, refreshed.text
    revoked = httpx.post(
        f"{stack.issuer}/revoke",
        data={
            "token": refreshed.json()["refresh_token"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    # RFC 7592: read, update and delete the registration (and its dedicated Cognito client).
    management = {"authorization": f"Bearer {client['registration_access_token']}"}
    read = httpx.get(client["registration_client_uri"], headers=management, timeout=30)
    assert read.status_code == 200, read.text
    management = {"authorization": f"Bearer {read.json()['registration_access_token']}"}
    updated = {
        k: v for k, v in read.json().items() if not k.startswith(("registration_", "client_s"))
    }
    put = httpx.put(
        client["registration_client_uri"],
        json={**updated, "client_name": "permissions, renamed"},
        headers=management,
        timeout=30,
    )
    assert put.status_code == 200, put.text
    management = {"authorization": f"Bearer {put.json()['registration_access_token']}"}
    deleted = httpx.delete(client["registration_client_uri"], headers=management, timeout=30)
    assert deleted.status_code == 204, deleted.text

    assert recorder.actions - serving_role_actions() == set()
    # The flows reached Cognito's client management and the table's item writes.
    assert {
        "cognito-idp:CreateUserPoolClient",
        "cognito-idp:DeleteUserPoolClient",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    } <= recorder.actions

"""Fault injection over HTTP (the façade under test may run in another process) and in-process."""

from __future__ import annotations

import threading
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from devstack.cognito import CognitoStandIn
from devstack.cognito.faults import parse_fault


@pytest.fixture(autouse=True)
def no_faults_left(standin):
    yield
    standin.clear_faults()


def faults_url(standin):
    return f"{standin.domain}/_standin/faults"


def bad_token_request(flow):
    return flow.token(flow.client(), {"grant_type": "refresh_token", "refresh_token": "x"})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"kind": "explode", "path": "/oauth2/token"}, "kind"),
        ({"kind": "throttle"}, "exactly one"),
        ({"kind": "throttle", "path": "/t", "action": "CreateUserPoolClient"}, "exactly one"),
        ({"kind": "throttle", "path": "oauth2/token"}, "path"),
        ({"kind": "throttle", "action": "Create User"}, "action"),
        ({"kind": "delay", "path": "/oauth2/token"}, "needs seconds"),
        ({"kind": "delay", "path": "/oauth2/token", "seconds": -1}, "seconds"),
        ({"kind": "delay", "path": "/oauth2/token", "seconds": 601}, "seconds"),
        ({"kind": "throttle", "path": "/oauth2/token", "count": 0}, "count"),
        ({"kind": "throttle", "path": "/oauth2/token", "count": True}, "count"),
    ],
)
def test_malformed_faults_are_refused(document, message):
    with pytest.raises(ValueError, match=message):
        parse_fault(document)


def test_malformed_fault_over_http_is_400(standin):
    response = httpx.post(faults_url(standin), json={"kind": "explode", "path": "/x"})
    assert response.status_code == 400
    assert "kind" in response.json()["error_description"]


def test_throttle_answers_429_for_count_requests(standin, flow):
    response = httpx.post(
        faults_url(standin), json={"path": "/oauth2/token", "kind": "throttle", "count": 2}
    )
    assert response.status_code == 201
    for _ in range(2):
        throttled = bad_token_request(flow)
        assert throttled.status_code == 429
        assert throttled.json() == {"error": "too_many_requests"}
    assert bad_token_request(flow).status_code == 400


def test_error_answers_500(standin, flow):
    httpx.post(faults_url(standin), json={"path": "/oauth2/token", "kind": "error"})
    response = bad_token_request(flow)
    assert response.status_code == 500
    assert response.json() == {"error": "server_error"}


def test_fault_without_count_lasts_until_cleared(standin, flow):
    httpx.post(faults_url(standin), json={"path": "/oauth2/token", "kind": "error", "count": None})
    assert bad_token_request(flow).status_code == 500
    assert bad_token_request(flow).status_code == 500
    listed = httpx.get(faults_url(standin)).json()
    assert listed == [{"kind": "error", "path": "/oauth2/token", "seconds": 0.0}]
    assert httpx.delete(faults_url(standin)).status_code == 204
    assert httpx.get(faults_url(standin)).json() == []
    assert bad_token_request(flow).status_code == 400


def test_faults_hit_only_their_path(standin, flow):
    standin.inject_fault(path="/oauth2/revoke", kind="error")
    assert bad_token_request(flow).status_code == 400


def test_admin_throttle_is_too_many_requests_exception(standin, flow):
    standin.inject_fault(action="CreateUserPoolClient", kind="throttle", count=1)
    with pytest.raises(ClientError) as raised:
        flow.client()
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert flow.client()["ClientId"]


def test_admin_throttle_over_http(standin, flow):
    response = httpx.post(
        faults_url(standin),
        json={"action": "CreateUserPoolClient", "kind": "throttle", "count": 1},
    )
    assert response.status_code == 201
    with pytest.raises(ClientError) as raised:
        flow.client()
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_admin_error_is_internal_error_exception(standin, flow):
    standin.inject_fault(action="DescribeUserPoolClient", kind="error")
    client = flow.client()
    with pytest.raises(ClientError) as raised:
        flow.idp.describe_user_pool_client(
            UserPoolId=flow.pool.pool_id, ClientId=client["ClientId"]
        )
    assert raised.value.response["Error"]["Code"] == "InternalErrorException"


def test_delays_outlast_the_callers_timeout_and_end_when_the_stand_in_stops(make_flow):
    slow = CognitoStandIn().start()
    answers: list[int] = []

    def patient_call() -> None:
        answers.append(httpx.post(f"{slow.domain}/oauth2/token", timeout=60).status_code)

    patient = threading.Thread(target=patient_call)
    try:
        pool_id = make_flow(slow).pool.pool_id
        slow.inject_fault(path="/oauth2/token", kind="delay", seconds=120, count=2)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{slow.domain}/oauth2/token", timeout=0.5)
        slow.inject_fault(action="ListUserPoolClients", kind="delay", seconds=120)
        impatient = boto3.client(
            "cognito-idp",
            endpoint_url=slow.endpoint,
            region_name=slow.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(read_timeout=0.5, retries={"total_max_attempts": 1}),
        )
        with pytest.raises(ReadTimeoutError):
            impatient.list_user_pool_clients(UserPoolId=pool_id, MaxResults=10)
        patient.start()
        # The patient request has arrived once it has used up the token delay.
        deadline = time.monotonic() + 30
        while any(fault.path for fault in slow.state.faults.active()):
            assert time.monotonic() < deadline, "the patient request never reached the stand-in"
            time.sleep(0.01)
    finally:
        slow.stop()
    patient.join(30)
    assert not slow.running
    # The request still waiting when the stand-in stopped got a real answer, not a reset.
    assert answers == [400]

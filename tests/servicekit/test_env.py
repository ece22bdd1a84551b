"""Reading settings from the environment: every refusal names the variable."""

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from servicekit import env as config
from servicekit.env import SettingsError


def refused(variable: str) -> pytest.RaisesExc:
    return pytest.raises(SettingsError, match=f"^{variable}: ")


def test_urls() -> None:
    assert config.url({"U": "https://a.example/x/"}, "U") == "https://a.example/x"
    assert config.url({}, "U") == ""
    for bad in ("a.example", "ftp://a.example", "https://a.example/?q=1", "https://a/#f"):
        with refused("U"):
            config.url({"U": bad}, "U")
    with refused("U"):
        config.url({}, "U", needed=True)


def test_numbers_booleans_lists_levels() -> None:
    assert config.integer({"N": " 7 "}, "N", 1, low=1) == 7
    assert config.integer({}, "N", 3, low=1) == 3
    with refused("N"):
        config.integer({"N": "x"}, "N", 1, low=1)
    with refused("N"):
        config.integer({"N": "0"}, "N", 1, low=1)
    assert config.boolean({"B": "Yes"}, "B") is True
    assert config.boolean({}, "B", default=True) is True
    with refused("B"):
        config.boolean({"B": "maybe"}, "B")
    assert config.items({"L": " a, ,b "}, "L") == ("a", "b")
    assert config.log_level({"LVL": "debug"}, "LVL") == "DEBUG"
    with refused("LVL"):
        config.log_level({"LVL": "loud"}, "LVL")


def test_user_pool_and_region() -> None:
    assert config.user_pool({"USER_POOL_ID": "eu-west-1_Abc"}) == ("eu-west-1_Abc", "eu-west-1")
    with refused("USER_POOL_ID"):
        config.user_pool({"USER_POOL_ID": "not-a-pool"})
    assert config.region({"AWS_REGION": "us-east-2"}, "eu-west-1") == "us-east-2"
    assert config.region({}, "eu-west-1") == "eu-west-1"


def test_key_lists_put_the_current_key_first() -> None:
    current, previous = "c" * 32, "p" * 40
    assert config.key_list({"K": f" {current} , {previous},{current}"}, "K", min_length=32) == (
        current,
        previous,
    )
    assert config.key_list({}, "K", min_length=32) == ()
    with pytest.raises(SettingsError, match=r"^K: key 2 must be at least 32"):
        config.key_list({"K": f"{current},short"}, "K", min_length=32)


def test_secrets_manager_versions_current_pending_previous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    old, new = "o" * 40, "n" * 40
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = client.create_secret(Name="key", SecretString=old)["ARN"]
        short = client.create_secret(Name="short", SecretString="k")["ARN"]
        assert config.read_secret_keys(arn, "V", min_length=32) == (old,)
        # A key being introduced is accepted before it signs anything.
        pending = client.put_secret_value(
            SecretId=arn, SecretString=new, VersionStages=["AWSPENDING"]
        )["VersionId"]
        assert config.read_secret_keys(arn, "V", min_length=32) == (old, new)
        # Promoted: it signs, and the key it replaced is still accepted.
        current = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
        (old_version,) = [v for v, stages in current.items() if "AWSCURRENT" in stages]
        client.update_secret_version_stage(
            SecretId=arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=pending,
            RemoveFromVersionId=old_version,
        )
        client.update_secret_version_stage(
            SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending
        )
        assert config.read_secret_keys(arn, "V", min_length=32) == (new, old)
        # The old key dropped: only the current one is left.
        client.update_secret_version_stage(
            SecretId=arn, VersionStage="AWSPREVIOUS", RemoveFromVersionId=old_version
        )
        assert config.read_secret_keys(arn, "V", min_length=32) == (new,)
        with refused("V"):
            config.read_secret_keys(short, "V", min_length=32)
        with refused("V"):
            config.read_secret_keys(arn.replace(":key", ":missing"), "V", min_length=32)


REGIONS = st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2", "us-gov-west-1"])
POOL_SUFFIX = st.text(alphabet="abcdefABCDEF0123456789", min_size=1, max_size=12)


@given(pool_region=REGIONS, aws_region=REGIONS, suffix=POOL_SUFFIX)
def test_the_pools_issuer_is_in_the_pools_region_whatever_aws_region_says(
    pool_region: str, aws_region: str, suffix: str
) -> None:
    env = {"USER_POOL_ID": f"{pool_region}_{suffix}", "AWS_REGION": aws_region}
    pool_id, region = config.user_pool(env)
    assert region == pool_region
    issuer = config.cognito_issuer(env, pool_id, region)
    assert issuer == f"https://cognito-idp.{pool_region}.amazonaws.com/{pool_id}"
    assert config.region(env, region) == aws_region
    # Stating that issuer explicitly is accepted; naming another region or pool is not.
    assert config.cognito_issuer({**env, "COGNITO_ISSUER": issuer}, pool_id, region) == issuer
    other = f"https://cognito-idp.{aws_region}.amazonaws.com/{pool_id}"
    if aws_region != pool_region:
        with pytest.raises(SettingsError, match="USER_POOL_ID"):
            config.cognito_issuer({**env, "COGNITO_ISSUER": other}, pool_id, region)
    with pytest.raises(SettingsError, match="USER_POOL_ID"):
        config.cognito_issuer({**env, "COGNITO_ISSUER": issuer + "x"}, pool_id, region)


def test_a_reading_reports_every_problem_together_each_naming_its_variable() -> None:
    env = config.Reading({"N": "x", "B": "maybe", "U": "ftp://a.example"})
    assert config.integer(env, "N", 1, low=1) == 0
    assert config.boolean(env, "B") is False
    assert config.url(env, "U") == ""
    assert config.url(env, "MISSING", needed=True) == ""  # one problem, not two
    config.problem(env, "OWN", "a settings object's own check")
    with pytest.raises(SettingsError) as raised:
        env.valid("settings")
    lines = str(raised.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["N", "B", "U", "MISSING", "OWN"]
    assert [p.variable for p in raised.value.problems] == ["N", "B", "U", "MISSING", "OWN"]
    assert env.names >= {"N", "B", "U", "MISSING"}
    assert config.Reading({"N": "2"}).valid("settings") == "settings"


def test_both_settings_objects_report_every_problem_in_one_run() -> None:
    """From an empty environment to a working one in one run, not one run per variable."""
    import authproxy.settings
    import mcpserver.settings

    with pytest.raises(SettingsError) as facade:
        authproxy.settings.Settings.from_env({"AUTHPROXY_UPSTREAM_TIMEOUT": "0.5"})
    named = {p.variable for p in facade.value.problems}
    assert named == {
        "ISSUER",
        "USER_POOL_ID",
        "AUTHPROXY_SECRET_KEY",
        "COGNITO_DOMAIN",
        "AUTHPROXY_RESOURCES",
        "AUTHPROXY_UPSTREAM_TIMEOUT",
    }
    with pytest.raises(SettingsError) as operator:
        authproxy.settings.OperatorSettings.from_env({})
    assert {p.variable for p in operator.value.problems} == {"USER_POOL_ID", "AUTHPROXY_STORE"}
    with pytest.raises(SettingsError) as mcp:
        mcpserver.settings.Settings.from_env({"MCP_SCOPES": "write", "MCP_LOG_LEVEL": "loud"})
    assert {p.variable for p in mcp.value.problems} >= {
        "MCP_URL",
        "ISSUER",
        "MCP_SESSION_SECRET",
        "MCP_SCOPES",
        "MCP_LOG_LEVEL",
    }


def test_a_command_line_reports_one_problem_on_its_line_and_several_one_per_line() -> None:
    one = SettingsError("MCP_URL", "is required")
    assert one.report("authproxy") == "authproxy: configuration error: MCP_URL: is required"
    both = SettingsError.together([one, SettingsError("ISSUER", "must be https")])
    assert both.report("authproxy-gateway") == (
        "authproxy-gateway: 2 configuration errors:\n  MCP_URL: is required\n"
        "  ISSUER: must be https"
    )

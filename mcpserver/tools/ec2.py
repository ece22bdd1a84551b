"""EC2: list instances, stop one (destructive, confirmed), and the regions as a resource."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, Field

from mcpserver.tools.aws import Region, aws_errors, client, tool_error

InstanceState = Literal["pending", "running", "shutting-down", "terminated", "stopping", "stopped"]
InstanceId = Annotated[
    str, Field(pattern=r"^i-[0-9a-f]{8,17}$", description="The instance to stop, e.g. i-0abc123…")
]

# The revision whose tools/call can carry an elicitation inside its result (InputRequiredResult).
# Earlier revisions elicit with a server-to-client request that a stateless server cannot receive
# the answer to.
_ELICITATION_IN_RESULT = "2026-07-28"

LIST_ANNOTATIONS = ToolAnnotations(
    title="List EC2 instances",
    read_only_hint=True,
    destructive_hint=False,
    idempotent_hint=True,
    open_world_hint=True,
)
STOP_ANNOTATIONS = ToolAnnotations(
    title="Stop an EC2 instance",
    read_only_hint=False,
    destructive_hint=True,
    idempotent_hint=True,
    open_world_hint=True,
)


class Instance(BaseModel):
    instance_id: str
    state: str
    instance_type: str | None = None
    name: str | None = None
    availability_zone: str | None = None
    launch_time: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None


class InstancePage(BaseModel):
    region: str
    instances: list[Instance]
    next_token: str | None = Field(
        default=None, description="Pass back as next_token for the next page; absent on the last"
    )


class StopResult(BaseModel):
    instance_id: str
    previous_state: str
    current_state: str


class StopConfirmation(BaseModel):
    confirm: bool = Field(description="Yes, stop this instance")


def instances_from(response: dict[str, Any]) -> list[Instance]:
    """The instances of a ``DescribeInstances`` response, flattened out of their reservations."""
    instances = []
    for reservation in response.get("Reservations", []):
        for item in reservation.get("Instances", []):
            tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
            launch_time = item.get("LaunchTime")
            instances.append(
                Instance(
                    instance_id=item["InstanceId"],
                    state=item.get("State", {}).get("Name", "unknown"),
                    instance_type=item.get("InstanceType"),
                    name=tags.get("Name"),
                    availability_zone=item.get("Placement", {}).get("AvailabilityZone"),
                    launch_time=launch_time.isoformat() if launch_time else None,
                    private_ip=item.get("PrivateIpAddress"),
                    public_ip=item.get("PublicIpAddress"),
                )
            )
    return instances


def can_elicit(ctx: Context) -> bool:
    """Whether this request can ask the user: a 2026-07-28 request from a form-eliciting client."""
    version = ctx.protocol_version
    if version is None or not is_version_at_least(version, _ELICITATION_IN_RESULT):
        return False
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` predates modes and means form support.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def confirm_stop(
    instance_id: str, confirm: bool, ctx: Context
) -> Elicit[StopConfirmation] | StopConfirmation:
    """The user's go-ahead. Where an elicitation can reach the user it is always asked, even if
    the caller passed ``confirm`` (a model may set that on its own); ``confirm`` is the fallback
    for requests that cannot carry an elicitation."""
    if can_elicit(ctx):
        return Elicit(
            f"Stop EC2 instance {instance_id}? It can be started again.", StopConfirmation
        )
    return StopConfirmation(confirm=confirm)


def register(server: MCPServer, default_region: str) -> None:
    """Add the EC2 tools and the regions resource to ``server``."""

    @server.tool(annotations=LIST_ANNOTATIONS)
    def list_ec2_instances(
        region: Region = None,
        state: Annotated[
            InstanceState | None, Field(description="Only instances in this state")
        ] = None,
        max_results: Annotated[
            int, Field(ge=5, le=1000, description="Instances per page, 5 to 1000")
        ] = 50,
        next_token: Annotated[
            str | None, Field(description="The next_token of the previous page, to continue")
        ] = None,
    ) -> InstancePage:
        """List EC2 instances in a region, optionally only those in one state, a page at a time."""
        region = region or default_region
        request: dict[str, Any] = {"MaxResults": max_results}
        if state:
            request["Filters"] = [{"Name": "instance-state-name", "Values": [state]}]
        if next_token:
            request["NextToken"] = next_token
        try:
            response = client("ec2", region).describe_instances(**request)
        except aws_errors() as exc:
            raise tool_error(exc) from exc
        return InstancePage(
            region=region,
            instances=instances_from(response),
            next_token=response.get("NextToken"),
        )

    @server.tool(annotations=STOP_ANNOTATIONS)
    def stop_ec2_instance(
        instance_id: InstanceId,
        confirmation: Annotated[ElicitationResult[StopConfirmation], Resolve(confirm_stop)],
        region: Region = None,
        confirm: Annotated[
            bool, Field(description="Set only after the user agreed to stop the instance")
        ] = False,
    ) -> StopResult:
        """Stop an EC2 instance. Needs the user's confirmation: the client asks where it can,
        otherwise pass confirm=true after asking the user yourself."""
        if not isinstance(confirmation, AcceptedElicitation):
            raise ToolError(f"Not stopped: the user did not confirm stopping {instance_id}.")
        if not confirmation.data.confirm:
            raise ToolError(
                f"Not stopped: stopping {instance_id} needs confirmation. Ask the user, then call "
                "again with confirm=true."
            )
        try:
            response = client("ec2", region or default_region).stop_instances(
                InstanceIds=[instance_id]
            )
        except aws_errors() as exc:
            raise tool_error(exc) from exc
        change = response["StoppingInstances"][0]
        return StopResult(
            instance_id=change["InstanceId"],
            previous_state=change["PreviousState"]["Name"],
            current_state=change["CurrentState"]["Name"],
        )

    @server.resource(
        "aws://ec2/regions",
        name="ec2-regions",
        title="EC2 regions",
        description="The regions where EC2 is available to this account",
        mime_type="application/json",
    )
    def ec2_regions() -> str:
        try:
            response = client("ec2", default_region).describe_regions()
        except aws_errors() as exc:
            raise ResourceError(str(tool_error(exc))) from exc
        return json.dumps(sorted(region["RegionName"] for region in response["Regions"]))

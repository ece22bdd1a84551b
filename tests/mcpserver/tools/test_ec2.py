from datetime import UTC, datetime

from mcpserver.tools.ec2 import Instance, instances_from


def test_instances_are_flattened_out_of_reservations() -> None:
    launched = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    response = {
        "Reservations": [
            {
                "Instances": [
                    {
                        "InstanceId": "i-0aaaaaaaaaaaaaaaa",
                        "State": {"Name": "running"},
                        "InstanceType": "t3.micro",
                        "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "x"}],
                        "Placement": {"AvailabilityZone": "eu-west-1a"},
                        "LaunchTime": launched,
                        "PrivateIpAddress": "10.0.0.5",
                        "PublicIpAddress": "203.0.113.9",
                    }
                ]
            },
            {"Instances": [{"InstanceId": "i-0bbbbbbbbbbbbbbbb"}]},
        ]
    }
    assert instances_from(response) == [
        Instance(
            instance_id="i-0aaaaaaaaaaaaaaaa",
            state="running",
            instance_type="t3.micro",
            name="web",
            availability_zone="eu-west-1a",
            launch_time="2026-11-21T09:30:00+00:00",
            private_ip="10.0.0.5",
            public_ip="203.0.113.9",
        ),
        Instance(instance_id="i-0bbbbbbbbbbbbbbbb", state="unknown"),
    ]
    assert instances_from({}) == []

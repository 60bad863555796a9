"""Reuse by content hash on the live emulator: a changed stack is updated, never reused stale."""

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tapstack.stack import deploy, discovery

SMALL_TEMPLATE = {
    "Parameters": {
        name: {"Type": "String", "Default": ""}
        for name in ("EnvironmentSuffix", "CodeBucket", "CodeKey", "Colour")
    },
    "Resources": {
        "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "colour", "Value": {"Ref": "Colour"}}]},
        },
    },
}


@dataclass(frozen=True)
class SmallBundle:
    path: Path
    sha256: str
    size: int


@pytest.fixture
def small_stack(tmp_path, localstack, aws_clients):
    """Deploy a two-resource template under a name discovery ignores; delete it after."""
    template_path = tmp_path / "small.json"
    template_path.write_text(json.dumps(SMALL_TEMPLATE))
    zipped = tmp_path / "empty.zip"
    zipped.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    bundle = SmallBundle(zipped, uuid.uuid4().hex * 2, zipped.stat().st_size)
    name = f"redeploy-{uuid.uuid4().hex[:8]}"

    def deploy_colour(colour: str) -> deploy.DeployResult:
        return deploy.deploy(
            localstack.endpoint,
            stack_name=name,
            parameter_set={"Colour": colour},
            template_path=template_path,
            skip_preflight=True,
            bundle=bundle,
            timeout=120,
        )

    yield deploy_colour

    deploy.delete(localstack.endpoint, name, timeout=120)


def test_deploy_after_a_change_and_back_updates_each_time(small_stack, aws_clients):
    blue = small_stack("blue")

    green = small_stack("green")
    blue_again = small_stack("blue")

    stack = discovery.describe_stack(aws_clients.cloudformation, blue.stack_name)
    assert [blue.action, green.action, blue_again.action] == ["created", "updated", "updated"]
    assert stack.parameters["Colour"] == "blue"
    assert stack.content_hash == blue_again.content_hash == blue.content_hash


def test_deploy_of_the_same_content_twice_reuses_the_stack(small_stack):
    small_stack("blue")
    green = small_stack("green")

    again = small_stack("green")

    assert again.action == "reused"
    assert again.content_hash == green.content_hash

"""Discovery on the live emulator, with small extra stacks next to the deployed one."""

import json
import uuid

import pytest

from tapstack.stack import deploy, discovery
from tapstack.stack.errors import DiscoveryError
from tapstack.waiters import wait_for_stack_settled

TINY_TEMPLATE = json.dumps(
    {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
)


@pytest.fixture
def tiny_stack(aws_clients, deployed_stack):
    """Factory: a stack of one WaitConditionHandle named ``<prefix><unique>``; deleted after."""
    cloudformation = aws_clients.cloudformation
    created = []

    def create(prefix: str) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        cloudformation.create_stack(StackName=name, TemplateBody=TINY_TEMPLATE)
        created.append(name)
        stack = wait_for_stack_settled(cloudformation, name, timeout=60, interval=0.5)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        return name

    yield create

    for name in created:
        cloudformation.delete_stack(StackName=name)
        wait_for_stack_settled(cloudformation, name, timeout=60, interval=0.5)


@pytest.fixture
def no_explicit_name(monkeypatch):
    monkeypatch.delenv(discovery.STACK_NAME_VARIABLE, raising=False)


@pytest.mark.parametrize("prefix", ["localstack-stack-", "TapStack"])
def test_find_stacks_lists_both_name_patterns(prefix, tiny_stack, aws_clients, deployed_stack):
    name = tiny_stack(prefix)

    found = [info.name for info in discovery.find_stacks(aws_clients.cloudformation)]

    assert name in found
    assert deployed_stack.stack_name in found


def test_select_stack_with_several_matches_lists_them(
    tiny_stack, aws_clients, deployed_stack, no_explicit_name
):
    extra = tiny_stack("localstack-stack-")

    with pytest.raises(DiscoveryError) as caught:
        discovery.select_stack(aws_clients.cloudformation)

    assert {extra, deployed_stack.stack_name} <= set(caught.value.candidates)
    assert extra in str(caught.value)
    assert discovery.STACK_NAME_VARIABLE in str(caught.value)


def test_explicit_stack_name_wins_over_several_matches(
    tiny_stack, aws_clients, monkeypatch, no_explicit_name
):
    extra = tiny_stack("TapStack")
    cloudformation = aws_clients.cloudformation

    by_argument = discovery.select_stack(cloudformation, extra)
    monkeypatch.setenv(discovery.STACK_NAME_VARIABLE, extra)
    by_environment = discovery.select_stack(cloudformation)

    assert by_argument.name == by_environment.name == extra
    assert by_argument.status == "CREATE_COMPLETE"


def test_deployed_stack_is_tagged_with_its_content_hash(aws_clients, deployed_stack):
    info = discovery.describe_stack(aws_clients.cloudformation, deployed_stack.stack_name)

    assert info.usable
    assert len(info.content_hash) == 64


def test_deploy_of_an_unchanged_stack_reuses_it(localstack, deployed_stack):
    result = deploy.deploy(localstack.endpoint, stack_name=deployed_stack.stack_name)

    assert result.action == "reused"
    assert result.stack_name == deployed_stack.stack_name
    assert [action.applied for action in result.concurrency] == [False] * 4

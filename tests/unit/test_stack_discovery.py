"""Stack discovery against moto's CloudFormation: name patterns, states, explicit choice."""

import json

import pytest
from moto import mock_aws

from tapstack import aws
from tapstack.stack import discovery
from tapstack.stack.errors import DiscoveryError

TRIVIAL_TEMPLATE = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})


@pytest.fixture
def cloudformation(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv(discovery.STACK_NAME_VARIABLE, raising=False)
    with mock_aws():
        yield aws.client("cloudformation")


def create(cloudformation, name, tags=None):
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TRIVIAL_TEMPLATE,
        Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()],
    )


def test_select_stack_without_any_stack_returns_none(cloudformation):
    create(cloudformation, "unrelated-stack")

    assert discovery.select_stack(cloudformation) is None


@pytest.mark.parametrize("name", ["TapStackdev", "TapStack-pr42", "localstack-stack-ci"])
def test_select_stack_finds_either_name_pattern(cloudformation, name):
    create(cloudformation, name, {discovery.CONTENT_HASH_TAG: "abc"})
    create(cloudformation, "other-stack")

    chosen = discovery.select_stack(cloudformation)

    assert chosen.name == name
    assert chosen.status == "CREATE_COMPLETE"
    assert chosen.content_hash == ("abc")


def test_select_stack_with_several_matches_lists_them_and_the_fix(cloudformation):
    create(cloudformation, "TapStackdev")
    create(cloudformation, "localstack-stack-ci")

    with pytest.raises(DiscoveryError) as caught:
        discovery.select_stack(cloudformation)

    assert sorted(caught.value.candidates) == ["TapStackdev", "localstack-stack-ci"]
    assert "TapStackdev" in str(caught.value)
    assert discovery.STACK_NAME_VARIABLE in str(caught.value)


def test_select_stack_explicit_name_wins_over_ambiguity(cloudformation):
    create(cloudformation, "TapStackdev")
    create(cloudformation, "localstack-stack-ci")

    assert discovery.select_stack(cloudformation, "localstack-stack-ci").name == (
        "localstack-stack-ci"
    )


def test_select_stack_reads_the_explicit_name_from_the_environment(cloudformation, monkeypatch):
    create(cloudformation, "TapStackdev")
    create(cloudformation, "TapStackother")
    monkeypatch.setenv(discovery.STACK_NAME_VARIABLE, "TapStackother")

    assert discovery.select_stack(cloudformation).name == "TapStackother"


def test_select_stack_explicit_name_that_does_not_exist_returns_none(cloudformation):
    assert discovery.select_stack(cloudformation, "TapStackmissing") is None


def test_deleted_stacks_are_not_candidates(cloudformation):
    create(cloudformation, "TapStackold")
    cloudformation.delete_stack(StackName="TapStackold")
    create(cloudformation, "TapStacknew")

    assert discovery.select_stack(cloudformation).name == "TapStacknew"


@pytest.mark.parametrize(
    ("status", "usable"),
    [
        ("CREATE_COMPLETE", True),
        ("UPDATE_COMPLETE", True),
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("ROLLBACK_COMPLETE", False),
        ("CREATE_IN_PROGRESS", False),
        ("DELETE_FAILED", False),
    ],
)
def test_stack_info_usable_states(status, usable):
    info = discovery.StackInfo("TapStackdev", status, "id", None, {})

    assert info.usable is usable


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("TapStackdev", True),
        ("localstack-stack-x", True),
        ("localstack-stackx", False),
        ("tapstackdev", False),
        ("MyTapStack", False),
    ],
)
def test_matches_name_pattern(name, matches):
    assert discovery.matches_name_pattern(name) is matches

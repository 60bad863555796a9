"""Deploy decisions against moto: create, reuse on the same content hash, update on change."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto import mock_aws

from tapstack import aws
from tapstack.stack import deploy, discovery

TEMPLATE = {
    "Parameters": {
        name: {"Type": "String", "Default": ""}
        for name in ("EnvironmentSuffix", "CodeBucket", "CodeKey", "Colour")
    },
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
}


@dataclass(frozen=True)
class FakeBundle:
    path: Path
    sha256: str
    size: int


@pytest.fixture
def moto_aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv(discovery.STACK_NAME_VARIABLE, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def template_path(tmp_path):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(TEMPLATE))
    return path


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return FakeBundle(path, "a" * 64, path.stat().st_size)


def run_deploy(template_path, bundle, colour="blue", **options):
    return deploy.deploy(
        None,
        parameter_set={"Colour": colour},
        template_path=template_path,
        skip_preflight=True,
        bundle=bundle,
        **options,
    )


def test_content_hash_ignores_key_order_and_follows_every_input():
    base = deploy.content_hash({"a": 1, "b": 2}, {"X": "1", "Y": "2"}, "sha")

    assert deploy.content_hash({"b": 2, "a": 1}, {"Y": "2", "X": "1"}, "sha") == base
    assert deploy.content_hash({"a": 1, "b": 3}, {"X": "1", "Y": "2"}, "sha") != base
    assert deploy.content_hash({"a": 1, "b": 2}, {"X": "1", "Y": "3"}, "sha") != base
    assert deploy.content_hash({"a": 1, "b": 2}, {"X": "1", "Y": "2"}, "other") != base


def test_stack_name_for_suffix():
    assert deploy.stack_name_for("dev") == "TapStackdev"


def test_deploy_creates_a_stack_tagged_with_its_content_hash(moto_aws, template_path, bundle):
    result = run_deploy(template_path, bundle)

    cloudformation = aws.client("cloudformation")
    stack = discovery.describe_stack(cloudformation, "TapStackdev")
    assert result.action == "created"
    assert stack.content_hash == result.content_hash
    assert stack.parameters["EnvironmentSuffix"] == "dev"
    assert stack.parameters["CodeKey"] == f"bundles/{bundle.sha256}.zip"


def test_deploy_uploads_the_bundle_to_the_code_bucket(moto_aws, template_path, bundle):
    run_deploy(template_path, bundle)

    s3 = aws.client("s3")
    bucket = deploy.code_bucket_name("123456789012", aws.region())
    head = s3.head_object(Bucket=bucket, Key=f"bundles/{bundle.sha256}.zip")
    assert head["ContentLength"] == bundle.size


def test_deploy_reuses_a_stack_whose_content_hash_matches(moto_aws, template_path, bundle):
    first = run_deploy(template_path, bundle)

    second = run_deploy(template_path, bundle)

    assert second.action == "reused"
    assert second.content_hash == first.content_hash


def test_deploy_updates_a_stack_whose_parameters_changed(moto_aws, template_path, bundle):
    first = run_deploy(template_path, bundle, colour="blue")

    second = run_deploy(template_path, bundle, colour="green")

    # moto does not carry a change set's tags onto the stack; that the tag follows the update
    # on LocalStack is tests/integration/test_redeploy.py's job.
    stack = discovery.describe_stack(aws.client("cloudformation"), "TapStackdev")
    assert second.action == "updated"
    assert second.content_hash != first.content_hash
    assert stack.parameters["Colour"] == "green"


def test_deploy_keeps_the_suffix_of_a_discovered_stack(moto_aws, template_path, bundle):
    run_deploy(template_path, bundle, suffix="pr7")

    result = run_deploy(template_path, bundle, colour="green")

    assert result.stack_name == "TapStackpr7"
    assert result.action == "updated"


def test_delete_removes_the_stack(moto_aws, template_path, bundle):
    run_deploy(template_path, bundle)

    deploy.delete(None, "TapStackdev")

    assert discovery.describe_stack(aws.client("cloudformation"), "TapStackdev") is None


def test_deploy_reuses_a_stack_whose_update_has_nothing_to_do(
    moto_aws, template_path, bundle, monkeypatch
):
    # A stack whose resources match but whose tag is stale, as LocalStack 4.9.2 leaves one:
    # its UpdateStack ignores Tags, and a no-op update changes nothing at all.
    bucket = deploy.code_bucket_name("123456789012", aws.region())
    parameters = {
        "Colour": "blue",
        "EnvironmentSuffix": "dev",
        "CodeBucket": bucket,
        "CodeKey": f"bundles/{bundle.sha256}.zip",
    }
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        **deploy._stack_arguments("TapStackdev", template_path, parameters, "stale")
    )
    updates = []
    update = deploy._update

    def counted_update(clients, name, *rest):
        updates.append(name)
        return update(clients, name, *rest)

    monkeypatch.setattr(deploy, "_update", counted_update)

    result = run_deploy(template_path, bundle)

    assert result.action == "reused"
    assert updates == ["TapStackdev"]
    assert discovery.describe_stack(cloudformation, "TapStackdev").content_hash == "stale"

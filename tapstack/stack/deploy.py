"""Deploy, update and delete TapStack, and decide when a deployed stack can be reused.

A deploy packages the handlers, uploads the bundle, runs the preflight against the live
account settings, then creates or updates the stack and waits for it to settle. The
stack carries a tag, ``tapstack:content-hash``: the sha256 of the template, the
parameters and the bundle. A stack whose tag matches is reused as it is.

After CloudFormation is done, the reserved concurrency LocalStack left unapplied is put
on the functions (see :mod:`tapstack.stack.gaps`). When that fails on a new stack, the
stack is deleted, as CloudFormation rolls back a failed create on AWS.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from tapstack import aws, paths
from tapstack.stack import discovery, gaps
from tapstack.stack.errors import DeployError
from tapstack.waiters import WaitTimeout, wait_for_change_set, wait_for_stack_settled

LOG = logging.getLogger(__name__)

DEFAULT_SUFFIX = "dev"
STACK_NAME_PREFIX = "TapStack"
BUNDLE_KEY_PREFIX = "bundles/"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
SUCCESS_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
#: States a stack of the same name must be deleted from before a create can reuse the name.
DEAD_STATUSES = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED")
DEFAULT_PARAMETER_SET = "localstack"
DEFAULT_TIMEOUT = 900.0
EVENTS_SHOWN = 15
#: How CloudFormation (and LocalStack) say that a change set would change nothing.
NOTHING_TO_UPDATE = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: ``action`` is ``created``, ``updated`` or ``reused``."""

    stack_name: str
    action: str
    content_hash: str
    seconds: float
    concurrency: list[gaps.ConcurrencyAction] = field(default_factory=list)
    point_in_time_recovery: list[str] = field(default_factory=list)


def stack_name_for(suffix: str) -> str:
    """The name of a new stack with this EnvironmentSuffix: ``TapStack<suffix>``."""
    return f"{STACK_NAME_PREFIX}{suffix}"


def content_hash(template: dict, parameters: dict[str, str], bundle_sha256: str) -> str:
    """The sha256 that says whether a deployed stack is this template, these parameters
    and this code bundle. Key order and whitespace do not change it."""
    document = {"template": template, "parameters": parameters, "bundle": bundle_sha256}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def code_bucket_name(account: str, region: str) -> str:
    """The bucket code bundles are uploaded to: ``tapstack-code-<account>-<region>``."""
    return f"tapstack-code-{account}-{region}"


def upload_bundle(s3, bundle, bucket: str) -> str:
    """Upload ``bundle`` to ``bucket`` (created if missing) as ``bundles/<sha256>.zip``.

    The key names the content, so an upload that already exists is skipped.
    :returns: the key.
    """
    key = f"{BUNDLE_KEY_PREFIX}{bundle.sha256}.zip"
    _ensure_bucket(s3, bucket)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        LOG.debug("bundle s3://%s/%s is already there", bucket, key)
        return key
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    LOG.info("uploading bundle (%d bytes) to s3://%s/%s", bundle.size, bucket, key)
    s3.upload_file(str(bundle.path), bucket, key)
    return key


def _ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    LOG.info("creating bucket %s", bucket)
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def resolve_parameters(
    parameter_set: str | dict = DEFAULT_PARAMETER_SET, overrides: dict | None = None
) -> dict[str, str]:
    """A parameter set (a name like ``localstack``, a path, or a dict) with overrides on top;
    every value as a string, the way CloudFormation takes them."""
    if isinstance(parameter_set, dict):
        base = dict(parameter_set)
    else:
        from tapstack.preflight import load_parameters

        base = dict(load_parameters(parameter_set))
    base.update(overrides or {})
    return {name: str(value) for name, value in base.items()}


def run_preflight_checks(lambda_client, template_path: Path, parameters: dict[str, str]) -> None:
    """Run the preflight against the live account settings; refuse to go on if it fails.

    The account's figures come from the endpoint, and the reservations the stack's
    functions hold today count as replaced, not added to (an update of a deployed stack).

    :raises DeployError: listing the findings, with the flag that skips the check.
    """
    from tapstack.preflight import (
        effective_parameters,
        function_names,
        load_template,
        read_account_concurrency,
        run_preflight,
    )

    template = load_template(template_path)
    names = function_names(template, effective_parameters(template, parameters))
    account = read_account_concurrency(lambda_client, function_names=names)
    report = run_preflight(template_path, parameters, account=account, lint=False)
    if report.ok:
        return
    findings = "\n  ".join(finding.one_line() for finding in report.errors)
    raise DeployError(
        f"preflight refused {template_path.name} with these parameters:\n  {findings}\n"
        "fix the parameters (see `tapstack preflight`), or deploy anyway with "
        "--skip-preflight to see what the emulator does"
    )


class Clients:
    """The clients a deploy needs, bound to one endpoint (None: real AWS)."""

    def __init__(self, endpoint: str | None):
        self.endpoint = endpoint
        self.cloudformation = aws.client("cloudformation", endpoint)
        self.lambda_ = aws.client("lambda", endpoint)
        self.s3 = aws.client("s3", endpoint)
        self.sts = aws.client("sts", endpoint)
        self.apigateway = aws.client("apigateway", endpoint)
        self.dynamodb = aws.client("dynamodb", endpoint)


def deploy(
    endpoint: str | None,
    *,
    stack_name: str | None = None,
    suffix: str | None = None,
    parameter_set: str | dict = DEFAULT_PARAMETER_SET,
    overrides: dict | None = None,
    template_path: Path = paths.TEMPLATE_PATH,
    skip_preflight: bool = False,
    bundle=None,
    timeout: float = DEFAULT_TIMEOUT,
) -> DeployResult:
    """Create, update or reuse a TapStack so that it matches this template, these
    parameters and the current handlers; return what was done.

    :param stack_name: the stack to deploy to; by default the discovered one (see
        :mod:`tapstack.stack.discovery`), else ``TapStack<suffix>``.
    :param suffix: the EnvironmentSuffix; by default the existing stack's, else ``dev``.
    :param overrides: parameter values that win over the parameter set.
    :param skip_preflight: deploy even if the preflight finds problems.
    :param bundle: a code bundle built already (``packaging.Bundle``); built by default.
    :raises DeployError: when the preflight refuses, CloudFormation fails (with the last
        stack events), or Lambda refuses the reserved concurrency.
    :raises DiscoveryError: when several stacks match and none was chosen.
    """
    started = time.monotonic()
    clients = Clients(endpoint)

    existing = discovery.select_stack(clients.cloudformation, stack_name)
    if existing is not None and existing.status.endswith("_IN_PROGRESS"):
        LOG.info("stack %s is %s; waiting for it to settle", existing.name, existing.status)
        wait_for_stack_settled(clients.cloudformation, existing.name, timeout=timeout)
        existing = discovery.describe_stack(clients.cloudformation, existing.name)
    if suffix is None:
        suffix = (existing.parameters.get("EnvironmentSuffix") if existing else None) or (
            DEFAULT_SUFFIX
        )
    name = existing.name if existing else (stack_name or stack_name_for(suffix))

    template = json.loads(template_path.read_text())
    parameters = resolve_parameters(parameter_set, overrides)
    parameters["EnvironmentSuffix"] = suffix
    if skip_preflight:
        LOG.warning("preflight skipped for %s: deploying whatever it would have found", name)
    else:
        run_preflight_checks(clients.lambda_, template_path, parameters)

    if bundle is None:
        from tapstack.stack.packaging import build_bundle

        bundle = build_bundle()
    account = clients.sts.get_caller_identity()["Account"]
    bucket = code_bucket_name(account, aws.region())
    parameters["CodeBucket"] = bucket
    parameters["CodeKey"] = upload_bundle(clients.s3, bundle, bucket)
    digest = content_hash(template, parameters, bundle.sha256)

    if existing is not None and not existing.usable:
        LOG.info("stack %s is %s, which nothing can use; deleting it", name, existing.status)
        delete(endpoint, name, timeout=timeout)
        existing = None

    if existing is not None and existing.content_hash == digest:
        LOG.info("stack %s is up to date (content hash %s); reusing it", name, digest[:12])
        action = "reused"
    elif existing is not None:
        LOG.info("stack %s changed (content hash %s); updating it", name, digest[:12])
        action = _update(clients, name, template_path, parameters, digest, timeout)
    else:
        LOG.info("creating stack %s", name)
        _create(clients, name, template_path, parameters, digest, timeout)
        action = "created"

    resources = _physical_ids(clients.cloudformation, name)
    concurrency = _compensate(clients, name, template, parameters, resources, action, timeout)
    recovery = gaps.compensate_point_in_time_recovery(
        clients.dynamodb, template, parameters, resources
    )
    seconds = time.monotonic() - started
    LOG.info("stack %s %s in %.1f s", name, action, seconds)
    return DeployResult(name, action, digest, seconds, concurrency, recovery)


def delete(endpoint: str | None, stack_name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Delete a stack and wait until it is gone.

    :raises DeployError: when the delete fails, with the last stack events.
    """
    cloudformation = aws.client("cloudformation", endpoint)
    if discovery.describe_stack(cloudformation, stack_name) is None:
        LOG.info("stack %s does not exist; nothing to delete", stack_name)
        return
    LOG.info("deleting stack %s", stack_name)
    cloudformation.delete_stack(StackName=stack_name)
    stack = _settle(cloudformation, stack_name, "delete", timeout)
    if stack["StackStatus"] != "DELETE_COMPLETE":
        raise DeployError(
            f"delete of {stack_name} ended in {stack['StackStatus']}",
            events=recent_events(cloudformation, stack_name),
        )


def recent_events(cloudformation, stack_name: str, limit: int = EVENTS_SHOWN) -> list[str]:
    """The stack's last events, newest first, one line each with the status reason."""
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError as exc:
        return [f"(no events: {exc})"]
    return [_event_line(event) for event in events[:limit]]


def _event_line(event: dict) -> str:
    stamp = event["Timestamp"].strftime("%H:%M:%S")
    line = f"{stamp} {event['LogicalResourceId']} {event['ResourceStatus']}"
    reason = event.get("ResourceStatusReason")
    return f"{line}: {reason}" if reason else line


def _stack_arguments(
    name: str, template_path: Path, parameters: dict[str, str], digest: str
) -> dict:
    return {
        "StackName": name,
        "TemplateBody": template_path.read_text(),
        "Parameters": [
            {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
        ],
        "Capabilities": CAPABILITIES,
        "Tags": [{"Key": discovery.CONTENT_HASH_TAG, "Value": digest}],
    }


def _create(clients, name, template_path, parameters, digest, timeout) -> None:
    arguments = _stack_arguments(name, template_path, parameters, digest)
    try:
        clients.cloudformation.create_stack(**arguments)
    except ClientError as exc:
        raise DeployError(f"create of {name} was refused: {exc}") from exc
    _require_success(clients.cloudformation, name, "create", timeout)


def _update(clients, name, template_path, parameters, digest, timeout) -> str:
    # Through a change set, not UpdateStack: LocalStack 4.9.2 ignores Tags on UpdateStack, so
    # the content-hash tag would keep the old hash, and deploying the old template again
    # would then wrongly reuse the updated stack. An executed change set carries the tags.
    cloudformation = clients.cloudformation
    change_set = f"tapstack-{digest[:12]}-{int(time.time())}"
    arguments = _stack_arguments(name, template_path, parameters, digest)
    try:
        cloudformation.create_change_set(
            ChangeSetName=change_set, ChangeSetType="UPDATE", **arguments
        )
    except ClientError as exc:
        # AWS and LocalStack create a FAILED change set when nothing changes; moto refuses.
        if any(marker in str(exc) for marker in NOTHING_TO_UPDATE):
            LOG.info("stack %s: CloudFormation found nothing to update", name)
            return "reused"
        raise DeployError(f"update of {name} was refused: {exc}") from exc

    description = wait_for_change_set(cloudformation, name, change_set, timeout=timeout)
    if description["Status"] == "FAILED":
        reason = description.get("StatusReason") or "no reason given"
        _delete_change_set(cloudformation, name, change_set)
        if any(marker in reason for marker in NOTHING_TO_UPDATE):
            LOG.info("stack %s: CloudFormation found nothing to update", name)
            return "reused"
        raise DeployError(f"change set {change_set} of {name} failed: {reason}")

    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    _require_success(cloudformation, name, "update", timeout)
    return "updated"


def _delete_change_set(cloudformation, name: str, change_set: str) -> None:
    try:
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
    except ClientError as exc:
        LOG.debug("could not delete change set %s of %s: %s", change_set, name, exc)


def _require_success(cloudformation, name: str, operation: str, timeout: float) -> None:
    stack = _settle(cloudformation, name, operation, timeout)
    if stack["StackStatus"] not in SUCCESS_STATUSES:
        reason = stack.get("StackStatusReason")
        raise DeployError(
            f"{operation} of {name} ended in {stack['StackStatus']}"
            + (f" ({reason})" if reason else ""),
            events=recent_events(cloudformation, name),
        )


def _settle(cloudformation, name: str, operation: str, timeout: float) -> dict:
    try:
        return wait_for_stack_settled(cloudformation, name, timeout=timeout)
    except WaitTimeout as exc:
        raise DeployError(
            f"{operation} of {name} did not settle: {exc}",
            events=recent_events(cloudformation, name),
        ) from exc


def _compensate(clients, name, template, parameters, resources, action, timeout):
    try:
        return gaps.compensate_reserved_concurrency(
            clients.lambda_, template, parameters, resources
        )
    except DeployError:
        if action == "created":
            # On AWS the quota error fails the create and CloudFormation rolls it back;
            # deleting the stack leaves the account as that would (nothing reserved).
            LOG.warning("rolling back %s: deleting the stack it created", name)
            delete(clients.endpoint, name, timeout=timeout)
        raise


def _physical_ids(cloudformation, name: str) -> dict[str, str]:
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    return {
        resource["LogicalResourceId"]: resource.get("PhysicalResourceId", "")
        for resource in resources
    }

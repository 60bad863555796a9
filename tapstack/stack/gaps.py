"""Where LocalStack behaves unlike AWS for TapStack, and what the harness does about it.

:data:`GAPS` is the one list of known emulator gaps; ``tapstack gaps`` prints it and the
README quotes it. :func:`compensate_reserved_concurrency` is the one gap the harness
closes itself: LocalStack's CloudFormation accepts ``ReservedConcurrentExecutions`` and
does not apply it, so after a deploy the harness applies it the way CloudFormation does
on AWS, quota check included.
"""

import logging
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from tapstack.preflight.checks import resources_of_type
from tapstack.preflight.checks.concurrency import planned_reservations
from tapstack.preflight.inputs import effective_parameters
from tapstack.preflight.intrinsics import is_true
from tapstack.stack.errors import DeployError

LOG = logging.getLogger(__name__)

MEASURED_ON = "localstack-core 4.9.2"


@dataclass(frozen=True)
class Gap:
    """One known difference between LocalStack and AWS that touches TapStack."""

    id: str
    service: str
    localstack: str
    aws: str
    harness: str
    version: str = MEASURED_ON

    def as_dict(self) -> dict:
        """The gap as a plain dict (for ``--json``)."""
        return asdict(self)


RESERVED_CONCURRENCY_GAP = "lambda-reserved-concurrency"
POINT_IN_TIME_RECOVERY_GAP = "dynamodb-point-in-time-recovery"

GAPS: tuple[Gap, ...] = (
    Gap(
        id=RESERVED_CONCURRENCY_GAP,
        service="Lambda / CloudFormation",
        localstack="accepts ReservedConcurrentExecutions on AWS::Lambda::Function and "
        "does not apply it: GetFunctionConcurrency returns nothing, no quota check",
        aws="applies it with PutFunctionConcurrency; a value that leaves fewer than 100 "
        "unreserved executions in the account fails the stack",
        harness="after each deploy, puts the template's value on every function where it "
        "is unset (logged as a warning); LocalStack's quota error fails the deploy",
    ),
    Gap(
        id="cloudformation-update-stack-tags",
        service="CloudFormation",
        localstack="ignores Tags on UpdateStack: the stack keeps the tags it was created "
        "with (an executed change set does carry them)",
        aws="applies the new tags with the update",
        harness="updates through a change set, so the tapstack:content-hash tag follows "
        "every update and a stack is never reused for content it no longer has",
    ),
    Gap(
        id=POINT_IN_TIME_RECOVERY_GAP,
        service="DynamoDB / CloudFormation",
        localstack="accepts PointInTimeRecoverySpecification on AWS::DynamoDB::Table and "
        "does not apply it: DescribeContinuousBackups reports DISABLED",
        aws="enables point-in-time recovery when the stack creates the table",
        harness="after each deploy, calls UpdateContinuousBackups on every table whose "
        "template enables it and which reports it disabled (logged as a warning)",
    ),
    Gap(
        id="apigateway-execute-api-host",
        service="API Gateway",
        localstack="serves the stage at <id>.execute-api.localhost.localstack.cloud, "
        "which needs DNS, and at /restapis/<id>/<stage>/_user_request_/ on the gateway",
        aws="serves the stage at https://<id>.execute-api.<region>.amazonaws.com/<stage>",
        harness="posts webhooks to the /restapis/... path (StackOutputs.webhook_url)",
    ),
    Gap(
        id="apigateway-usage-plan-limits",
        service="API Gateway",
        localstack="enforces API keys (403 without or with a wrong key) but not the "
        "usage plan's rate, burst or quota",
        aws="throttles with 429 past the usage plan's limits",
        harness="tests the key and checks the usage plan's configuration, not throttling",
    ),
    Gap(
        id="dynamodb-ttl-expiry",
        service="DynamoDB",
        localstack="removes expired TTL items only with DYNAMODB_REMOVE_EXPIRED_ITEMS "
        "(hourly) or on DELETE /_aws/dynamodb/expired",
        aws="removes expired items in the background, typically within days",
        harness="checks the TTL setting and each item's expires_at; removal past retention "
        "is tested through CleanupHistory",
    ),
    Gap(
        id="dynamodb-streams-bisect",
        service="Lambda event source mapping",
        localstack="accepts BisectBatchOnFunctionError for DynamoDB streams and does not "
        "bisect; ReportBatchItemFailures is honoured",
        aws="splits a failing batch in two and retries each half",
        harness="tests failure isolation through partial batch responses only",
    ),
    Gap(
        id="lambda-fault-injection",
        service="Lambda",
        localstack="has no switch that makes a function fail (DYNAMODB_ERROR_PROBABILITY "
        "only throttles DynamoDB)",
        aws="no such switch either",
        harness="sets CheckAlerts' FAIL_ON_SYMBOLS variable for the failure tests and "
        "restores it afterwards",
    ),
    Gap(
        id="iam-not-enforced",
        service="IAM",
        localstack="does not evaluate IAM policies in the free edition",
        aws="denies whatever the execution roles do not allow",
        harness="least privilege is checked statically by the preflight, not by the tests",
    ),
    Gap(
        id="sns-delivery-retries",
        service="SNS",
        localstack="does not retry a failed delivery; it goes to the subscription's "
        "dead-letter queue if one is set",
        aws="retries deliveries by the topic's delivery policy",
        harness="observes notifications through an SQS subscription, which does not fail",
    ),
    Gap(
        id="eventbridge-schedule-timing",
        service="EventBridge",
        localstack="runs a schedule rule's first invocation about one period after the "
        "rule is created",
        aws="runs on the schedule's boundaries",
        harness="invokes the rule's target with a Scheduled Event payload instead of "
        "waiting for the schedule",
    ),
    Gap(
        id="cloudwatch-alarm-evaluation",
        service="CloudWatch",
        localstack="stores alarms and their actions; evaluation against Lambda metrics "
        "is not to be relied on",
        aws="evaluates alarms every period and runs their actions",
        harness="checks each alarm's metric, threshold and actions, not that it fires",
    ),
)


def markdown_table(gaps: tuple[Gap, ...] = GAPS) -> str:
    """The gaps as the Markdown table README.md shows (a unit test keeps the two equal)."""
    rows = [
        "| gap | LocalStack | AWS | what the harness does |",
        "| --- | --- | --- | --- |",
    ]
    for gap in gaps:
        cells = (f"`{gap.id}` ({gap.service})", gap.localstack, gap.aws, gap.harness)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def find_gap(gap_id: str) -> Gap:
    """The gap named ``gap_id``; KeyError if there is none."""
    for gap in GAPS:
        if gap.id == gap_id:
            return gap
    raise KeyError(gap_id)


# -- reserved concurrency ---------------------------------------------------------------------


@dataclass(frozen=True)
class ConcurrencyAction:
    """What the compensation found, and did, for one function."""

    logical_id: str
    function_name: str
    wanted: int
    found: int | None
    applied: bool


def wanted_reserved_concurrency(template: dict, parameters: dict[str, str]) -> dict[str, int]:
    """Each function's ReservedConcurrentExecutions in ``template``, resolved with
    ``parameters`` (then the parameters' defaults), by logical id."""
    values = effective_parameters(template, parameters)
    reservations, _ = planned_reservations(template, values)
    return {reservation.logical_id: reservation.value for reservation in reservations}


def compensate_reserved_concurrency(
    lambda_client,
    template: dict,
    parameters: dict[str, str],
    function_names: dict[str, str],
) -> list[ConcurrencyAction]:
    """Apply the template's reserved concurrency wherever the emulator left it unset.

    :param function_names: physical function name by logical id (the stack's resources).
    :returns: one action per function that has a value in the template.
    :raises DeployError: when Lambda refuses a value, with Lambda's own message (the
        account quota error, typically).
    """
    actions = []
    for logical_id, wanted in wanted_reserved_concurrency(template, parameters).items():
        name = function_names.get(logical_id)
        if name is None:
            raise DeployError(f"the stack has no function {logical_id}, the template does")

        found = lambda_client.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        if found == wanted:
            actions.append(ConcurrencyAction(logical_id, name, wanted, found, applied=False))
            continue

        LOG.warning(
            "%s: reserved concurrency is %s, the template says %d; putting it "
            "(compensates for LocalStack gap %s: CloudFormation does not apply it)",
            name,
            "unset" if found is None else found,
            wanted,
            RESERVED_CONCURRENCY_GAP,
        )
        _put_function_concurrency(lambda_client, logical_id, name, wanted)
        actions.append(ConcurrencyAction(logical_id, name, wanted, found, applied=True))
    return actions


def undo_compensation(lambda_client, actions: list[ConcurrencyAction]) -> None:
    """Remove the reserved concurrency the compensation put (a rollback's last step)."""
    for action in actions:
        if not action.applied:
            continue
        try:
            lambda_client.delete_function_concurrency(FunctionName=action.function_name)
        except ClientError as exc:
            LOG.debug("could not remove concurrency of %s: %s", action.function_name, exc)


def _put_function_concurrency(lambda_client, logical_id: str, name: str, wanted: int) -> None:
    try:
        lambda_client.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=wanted
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(
            f"{logical_id} ({name}): PutFunctionConcurrency({wanted}) was refused: "
            f"{error.get('Code')}: {error.get('Message')} -- on AWS, CloudFormation fails "
            "the stack the same way; lower the *ReservedConcurrency parameters or raise "
            "the account's concurrency limit"
        ) from exc


# -- point-in-time recovery --------------------------------------------------------------------


def wanted_point_in_time_recovery(template: dict, parameters: dict[str, str]) -> list[str]:
    """Logical ids of the tables whose template enables point-in-time recovery."""
    values = effective_parameters(template, parameters)
    wanted = []
    for logical_id, properties in resources_of_type(template, "AWS::DynamoDB::Table", values):
        specification = properties.get("PointInTimeRecoverySpecification") or {}
        if is_true(specification.get("PointInTimeRecoveryEnabled"), values) is True:
            wanted.append(logical_id)
    return wanted


def compensate_point_in_time_recovery(
    dynamodb, template: dict, parameters: dict[str, str], table_names: dict[str, str]
) -> list[str]:
    """Enable point-in-time recovery where the template asks for it and the emulator did
    not; return the names of the tables it enabled it on.

    :param table_names: physical table name by logical id (the stack's resources).
    """
    enabled = []
    for logical_id in wanted_point_in_time_recovery(template, parameters):
        name = table_names[logical_id]
        backups = dynamodb.describe_continuous_backups(TableName=name)
        description = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        if description["PointInTimeRecoveryStatus"] == "ENABLED":
            continue

        LOG.warning(
            "%s: point-in-time recovery is %s, the template enables it; enabling it "
            "(compensates for LocalStack gap %s)",
            name,
            description["PointInTimeRecoveryStatus"],
            POINT_IN_TIME_RECOVERY_GAP,
        )
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        enabled.append(name)
    return enabled

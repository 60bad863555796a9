"""Check IAM policies for wildcard actions and for ``Resource: "*"``.

Covers inline ``Policies`` of AWS::IAM::Role, AWS::IAM::Policy and
AWS::IAM::ManagedPolicy. Only ``Allow`` statements are checked: a wildcard in a ``Deny``
narrows access. Trust policies (AssumeRolePolicyDocument) and resource policies such as
a KMS key policy are out of scope: in a key policy, ``kms:*`` for the account root is
AWS's default and keeps the key manageable.
"""

from collections.abc import Mapping

from tapstack.preflight.checks import resources_of_type, shown
from tapstack.preflight.model import Finding, Severity

CHECK = "iam"

#: Actions that support no resource-level permissions: IAM accepts only ``"*"`` as their
#: resource (the Service Authorization Reference lists no resource type for them; a unit
#: test checks that against cfn-lint's copy of it). Keep this list short: every entry is a
#: statement someone reads in a review. cloudwatch:PutMetricData is not on it: it has a
#: resource type now.
ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = frozenset(
    {
        # Lambda's DynamoDB stream event source mapping lists the table's streams.
        "dynamodb:liststreams",
        # Lambda's X-Ray tracing (TracingConfig: Active).
        "xray:puttracesegments",
        "xray:puttelemetryrecords",
    }
)


def check_iam(template: Mapping) -> list[Finding]:
    """Every Allow statement with a wildcard action, ``NotAction``, or a needless ``"*"``."""
    findings = []
    for logical_id, document, where in _policy_documents(template):
        statements = document.get("Statement") if isinstance(document, dict) else None
        if isinstance(statements, dict):
            statements = [statements]
        for index, statement in enumerate(statements or []):
            if isinstance(statement, dict) and statement.get("Effect") == "Allow":
                findings += _check_statement(logical_id, f"{where}.Statement[{index}]", statement)
    return findings


def _policy_documents(template: Mapping):
    """Yield ``(logical_id, policy document, property path)`` of every identity policy."""
    for logical_id, properties in resources_of_type(template, "AWS::IAM::Role"):
        for index, policy in enumerate(properties.get("Policies") or []):
            if isinstance(policy, dict):
                yield logical_id, policy.get("PolicyDocument"), f"Policies[{index}].PolicyDocument"
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, properties in resources_of_type(template, resource_type):
            yield logical_id, properties.get("PolicyDocument"), "PolicyDocument"


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_statement(logical_id: str, where: str, statement: Mapping) -> list[Finding]:
    label = f"statement {statement['Sid']!r}" if statement.get("Sid") else "a statement"
    findings = []

    if "NotAction" in statement:
        findings.append(
            Finding(
                check=CHECK,
                severity=Severity.ERROR,
                resource=logical_id,
                property=f"{where}.NotAction",
                seen=shown(statement["NotAction"]),
                fix="list the actions the function needs under Action instead",
                message=f"{label} of {logical_id} allows every action except a few (NotAction)",
            )
        )

    actions = [action for action in _as_list(statement.get("Action")) if isinstance(action, str)]
    wildcards = [action for action in actions if "*" in action]
    if wildcards:
        findings.append(
            Finding(
                check=CHECK,
                severity=Severity.ERROR,
                resource=logical_id,
                property=f"{where}.Action",
                seen=shown(wildcards),
                fix="name each action the function calls (e.g. dynamodb:PutItem) "
                "instead of a pattern",
                message=f"{label} of {logical_id} allows wildcard actions {', '.join(wildcards)}",
            )
        )

    if "NotResource" in statement:
        findings.append(
            Finding(
                check=CHECK,
                severity=Severity.ERROR,
                resource=logical_id,
                property=f"{where}.NotResource",
                seen=shown(statement["NotResource"]),
                fix="list the ARNs the actions need under Resource instead",
                message=f"{label} of {logical_id} applies to every resource except a few "
                "(NotResource)",
            )
        )

    if "*" in _as_list(statement.get("Resource")):
        needless = [
            action
            for action in actions
            if action.lower() not in ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS
        ]
        if needless or not actions:
            findings.append(
                Finding(
                    check=CHECK,
                    severity=Severity.ERROR,
                    resource=logical_id,
                    property=f"{where}.Resource",
                    seen='"*"',
                    fix='replace "*" with the ARNs these actions need (Fn::GetAtt / Fn::Sub); '
                    "only actions without resource-level permissions may keep it "
                    f"({', '.join(sorted(ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS))})",
                    message=f"{label} of {logical_id} grants {', '.join(needless) or 'its actions'}"
                    ' on every resource ("*")',
                )
            )
    return findings

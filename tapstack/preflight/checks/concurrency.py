"""Check the reserved concurrency a stack would hold against the account's Lambda quota.

Lambda refuses a reservation that would leave less than the account's minimum unreserved
(100 on most accounts): "Specified ReservedConcurrentExecutions for function decreases
account's UnreservedConcurrentExecution below its minimum value of [100]". The first
version of TapStack failed to deploy that way with 100 + 50 + 50 + 5 on a 300 account.
LocalStack 4.9.2 accepts and silently drops ReservedConcurrentExecutions in templates,
so only this check catches the mistake before it reaches AWS.
"""

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from tapstack.preflight.checks import resources_of_type
from tapstack.preflight.errors import AccountSettingsError
from tapstack.preflight.intrinsics import UNRESOLVED, resolve
from tapstack.preflight.model import AccountConcurrency, Finding, Severity

LOG = logging.getLogger(__name__)

CHECK = "concurrency"
PROPERTY = "ReservedConcurrentExecutions"


@dataclass(frozen=True)
class Reservation:
    """What one AWS::Lambda::Function of the template would reserve."""

    logical_id: str
    value: int
    #: The parameter the value comes from (``Ref``), None for a literal.
    parameter: str | None = None
    #: The function's resolved FunctionName, None when it is generated or unknown.
    function_name: str | None = None


def function_names(template: Mapping, parameters: Mapping[str, str]) -> list[str]:
    """The FunctionName of every function in the template that resolves before a deploy."""
    names = []
    for _, properties in resources_of_type(template, "AWS::Lambda::Function"):
        name = resolve(properties.get("FunctionName"), parameters)
        if isinstance(name, str) and name:
            names.append(name)
    return names


def planned_reservations(
    template: Mapping, parameters: Mapping[str, str]
) -> tuple[list[Reservation], list[Finding]]:
    """The reservations the template asks for, and findings for values that make no sense."""
    reservations, findings = [], []
    functions = resources_of_type(template, "AWS::Lambda::Function", parameters)
    for logical_id, properties in functions:
        if PROPERTY not in properties:
            continue
        raw = properties[PROPERTY]
        parameter = raw.get("Ref") if isinstance(raw, dict) else None
        value = resolve(raw, parameters, template)
        if value is None:
            continue  # Fn::If chose AWS::NoValue: the function reserves nothing
        where = f"parameter {parameter}" if parameter else "the template"

        if value is UNRESOLVED:
            findings.append(
                _finding(
                    Severity.WARNING,
                    logical_id,
                    seen=str(raw),
                    message=f"cannot tell what {logical_id} reserves before a deploy, "
                    "so it is left out of the quota check",
                    fix=f"give {PROPERTY} a number or a Ref to a parameter with a value",
                )
            )
            continue
        try:
            number = int(str(value))
        except ValueError:
            number = -1
        if number < 0:
            findings.append(
                _finding(
                    Severity.ERROR,
                    logical_id,
                    seen=str(value),
                    message=f"{logical_id} reserves {value!r} (from {where}); "
                    "Lambda takes a whole number, 0 or more",
                    fix=f"set {parameter or PROPERTY} to a whole number such as 5",
                )
            )
            continue

        name = resolve(properties.get("FunctionName"), parameters)
        reservations.append(
            Reservation(
                logical_id=logical_id,
                value=number,
                parameter=parameter,
                function_name=name if isinstance(name, str) and name else None,
            )
        )
    return reservations, findings


def check_concurrency(
    template: Mapping, parameters: Mapping[str, str], account: AccountConcurrency | None
) -> list[Finding]:
    """Refuse reservations that would leave the account below its minimum unreserved.

    Without ``account`` the quota is unknown: the check is skipped with a warning that
    says how to enable it.
    """
    reservations, findings = planned_reservations(template, parameters)
    if not reservations:
        return findings

    total = sum(item.value for item in reservations)
    holders = ", ".join(item.logical_id for item in reservations)
    breakdown = ", ".join(f"{item.logical_id} {item.value}" for item in reservations)
    sum_text = " + ".join(str(item.value) for item in reservations) + f" = {total}"

    if account is None:
        findings.append(
            _finding(
                Severity.WARNING,
                holders,
                seen=sum_text,
                message=f"the functions would reserve {total} concurrent executions "
                f"({breakdown}), but the account's concurrency limit is unknown, "
                "so the quota check was skipped",
                fix="pass --account-limit N (and --min-unreserved N on a small account), "
                "or --endpoint URL to read lambda:GetAccountSettings",
            )
        )
        return findings

    elsewhere = account.reserved_elsewhere
    remaining = account.limit - elsewhere - total
    if remaining >= account.minimum_unreserved:
        LOG.debug(
            "reserved concurrency %d fits: %d of %d stay unreserved (minimum %d)",
            total,
            remaining,
            account.limit,
            account.minimum_unreserved,
        )
        return findings

    budget = account.limit - elsewhere - account.minimum_unreserved
    replaced = ""
    if account.existing_reservations:
        replaced = (
            f" (not counting {sum(account.existing_reservations.values())} held today by "
            f"functions this stack replaces: "
            + ", ".join(f"{name} {value}" for name, value in account.existing_reservations.items())
            + ")"
        )
    message = (
        f"the functions would reserve {total} concurrent executions ({breakdown}). "
        f"The account's limit is {account.limit} and other functions already reserve "
        f"{elsewhere}{replaced}, so {account.limit} - {elsewhere} - {total} = {remaining} "
        f"would stay unreserved, below the minimum of {account.minimum_unreserved}; "
        f"Lambda would refuse the deploy. "
        + (f"At most {budget} in total fits." if budget > 0 else "No reservation fits at all.")
    )
    findings.append(
        _finding(
            Severity.ERROR,
            holders,
            seen=f"{sum_text}; {remaining} left unreserved (minimum {account.minimum_unreserved})",
            message=message,
            fix=_fix_text(reservations, budget),
        )
    )
    return findings


def _fix_text(reservations: list[Reservation], budget: int) -> str:
    outside = "free reservations held by other functions or raise the account's quota"
    if budget < len(reservations):
        return (
            f"remove {PROPERTY} from the functions (they then share the unreserved pool), "
            f"or {outside}"
        )

    scaled = fitting_reservations([item.value for item in reservations], budget)
    settings = ", ".join(
        f"{item.parameter or item.logical_id + '.' + PROPERTY}={value}"
        for item, value in zip(reservations, scaled, strict=True)
    )
    return (
        f"lower the reservations to {budget} or less in total, for example scaled down "
        f"in proportion: {settings} (in the parameter set or with --parameter KEY=VALUE); "
        f"or {outside}"
    )


def fitting_reservations(values: list[int], budget: int) -> list[int]:
    """Scale ``values`` down in proportion so that they add up to at most ``budget``.

    Uses largest remainders, so the result adds up to exactly ``budget`` when scaling is
    needed; every function keeps at least 1 when the budget allows it.
    """
    total = sum(values)
    if total <= budget:
        return list(values)
    if budget <= 0:
        return [0 for _ in values]

    shares = [value * budget / total for value in values]
    scaled = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(values)), key=lambda i: shares[i] - scaled[i], reverse=True)
    for index in by_remainder[: budget - sum(scaled)]:
        scaled[index] += 1

    # A reservation of 0 throttles the function completely: take the 1 from the largest.
    for index, value in enumerate(scaled):
        if value == 0 and values[index] > 0 and budget >= len(values):
            largest = max(range(len(scaled)), key=lambda i: scaled[i])
            scaled[largest] -= 1
            scaled[index] = 1
    return scaled


def read_account_concurrency(
    lambda_client, *, minimum_unreserved: int = 100, function_names: Iterable[str] = ()
) -> AccountConcurrency:
    """Read the account's concurrency from ``lambda:GetAccountSettings``.

    ``function_names`` are the functions the stack would create; for each that already
    exists, its current reservation (``lambda:GetFunctionConcurrency``) is recorded,
    since a deploy replaces it rather than adding to it. The minimum unreserved is not
    exposed by any API and comes from the caller.

    Raises:
        AccountSettingsError: the endpoint cannot be reached or refuses the call.
    """
    try:
        settings = lambda_client.get_account_settings()
    except (BotoCoreError, ClientError) as exc:
        raise AccountSettingsError(
            f"cannot read lambda:GetAccountSettings: {exc} "
            "(check --endpoint, or use --account-limit N instead)"
        ) from exc

    existing = {}
    for name in function_names:
        reserved = _current_reservation(lambda_client, name)
        if reserved is not None:
            existing[name] = reserved

    account = AccountConcurrency.from_account_settings(
        settings, minimum_unreserved=minimum_unreserved, existing_reservations=existing
    )
    LOG.info(
        "account concurrency: limit %d, unreserved %d, minimum unreserved %d",
        account.limit,
        account.unreserved,
        account.minimum_unreserved,
    )
    return account


def _current_reservation(lambda_client, name: str) -> int | None:
    try:
        response = lambda_client.get_function_concurrency(FunctionName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise AccountSettingsError(
            f"cannot read lambda:GetFunctionConcurrency of {name}: {exc}"
        ) from exc
    except BotoCoreError as exc:
        raise AccountSettingsError(
            f"cannot read lambda:GetFunctionConcurrency of {name}: {exc}"
        ) from exc
    return response.get("ReservedConcurrentExecutions")


def _finding(severity: Severity, resource: str, *, seen: str, message: str, fix: str) -> Finding:
    return Finding(
        check=CHECK,
        severity=severity,
        resource=resource,
        property=PROPERTY,
        seen=seen,
        fix=fix,
        message=message,
    )

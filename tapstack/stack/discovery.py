"""Which deployed stack the harness uses: an explicit name wins, else one found by name.

The rules, in order:

1. A name given explicitly (an argument, else ``TAPSTACK_STACK_NAME``) is used as is.
2. Otherwise the stacks named ``TapStack*`` or ``localstack-stack-*`` in a usable state
   are candidates: none means a new stack is deployed, one is used, several are an error
   that lists them (choose with ``TAPSTACK_STACK_NAME``).

A usable state is one where the stack's resources match a template: CREATE_COMPLETE,
UPDATE_COMPLETE, and UPDATE_ROLLBACK_COMPLETE (a failed update rolled back to the
previous template, which an update can move on from). ROLLBACK_COMPLETE is not usable:
a create failed, and such a stack can only be deleted.
"""

import os
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from tapstack.stack.errors import DiscoveryError

STACK_NAME_VARIABLE = "TAPSTACK_STACK_NAME"
NAME_PREFIXES = ("TapStack", "localstack-stack-")
USABLE_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
CONTENT_HASH_TAG = "tapstack:content-hash"


@dataclass(frozen=True)
class StackInfo:
    """A deployed stack as discovery sees it."""

    name: str
    status: str
    stack_id: str
    content_hash: str | None
    parameters: dict[str, str]
    updated: datetime | None = None

    @property
    def usable(self) -> bool:
        """Whether the stack's resources match a template (see the module docstring)."""
        return self.status in USABLE_STATUSES

    def as_dict(self) -> dict:
        """The stack as plain values (for ``--json``)."""
        return {
            "name": self.name,
            "status": self.status,
            "stack_id": self.stack_id,
            "content_hash": self.content_hash,
            "updated": self.updated.isoformat() if self.updated else None,
        }


def matches_name_pattern(name: str) -> bool:
    """Whether ``name`` looks like a TapStack deployment (see :data:`NAME_PREFIXES`)."""
    return name.startswith(NAME_PREFIXES)


def describe_stack(cloudformation, name: str) -> StackInfo | None:
    """The stack called ``name``, or None when there is none (deleted stacks included)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    stack = stacks[0]
    if stack["StackStatus"] == "DELETE_COMPLETE":
        return None
    return _stack_info(stack)


def find_stacks(cloudformation, *, usable_only: bool = True) -> list[StackInfo]:
    """The stacks whose names match the patterns, oldest first."""
    found = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if not matches_name_pattern(stack["StackName"]):
                continue
            info = _stack_info(stack)
            if info.status == "DELETE_COMPLETE" or (usable_only and not info.usable):
                continue
            found.append(info)
    return sorted(found, key=lambda info: (info.updated or datetime.min, info.name))


def explicit_stack_name(name: str | None = None) -> str | None:
    """The stack name chosen by the caller: ``name``, else ``TAPSTACK_STACK_NAME``."""
    return name or os.environ.get(STACK_NAME_VARIABLE) or None


def select_stack(cloudformation, name: str | None = None) -> StackInfo | None:
    """Apply the discovery rules; None means no stack exists and one should be deployed.

    :param name: an explicit choice; falls back to ``TAPSTACK_STACK_NAME``.
    :raises DiscoveryError: when several stacks match and none was chosen, or when the
        explicitly named stack exists in a state nothing can use.
    """
    chosen = explicit_stack_name(name)
    if chosen:
        return describe_stack(cloudformation, chosen)

    candidates = find_stacks(cloudformation)
    if len(candidates) > 1:
        listing = ", ".join(f"{info.name} ({info.status})" for info in candidates)
        raise DiscoveryError(
            f"{len(candidates)} stacks match {' or '.join(p + '*' for p in NAME_PREFIXES)}: "
            f"{listing}; choose one with {STACK_NAME_VARIABLE}=<name> or --stack-name",
            candidates=[info.name for info in candidates],
        )
    return candidates[0] if candidates else None


def _stack_info(stack: dict) -> StackInfo:
    tags = {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])}
    parameters = {
        parameter["ParameterKey"]: parameter.get("ParameterValue", "")
        for parameter in stack.get("Parameters", [])
    }
    return StackInfo(
        name=stack["StackName"],
        status=stack["StackStatus"],
        stack_id=stack.get("StackId", ""),
        content_hash=tags.get(CONTENT_HASH_TAG),
        parameters=parameters,
        updated=stack.get("LastUpdatedTime") or stack.get("CreationTime"),
    )

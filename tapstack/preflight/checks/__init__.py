"""The checks a preflight runs; each takes the parsed template and returns findings.

- ``parameters``: the parameter set against the template's declarations.
- ``concurrency``: reserved concurrency against the account's quota.
- ``lint``: cfn-lint, errors and warnings.
- ``promises``: the properties TapStack promises (arm64, KMS, stream and TTL, PITR,
  API keys, an Errors alarm per function).
- ``iam``: no wildcard actions, no ``Resource: "*"`` outside a short allowlist.
"""

import json
from collections.abc import Iterator, Mapping

from tapstack.preflight.intrinsics import condition_holds


def resources_of_type(
    template: Mapping, resource_type: str, parameters: Mapping[str, str] | None = None
) -> Iterator[tuple[str, dict]]:
    """Yield ``(logical_id, properties)`` of every resource of ``resource_type``.

    With ``parameters``, a resource whose ``Condition`` is known to be false is left out:
    the stack would not create it.
    """
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not (isinstance(resource, dict) and resource.get("Type") == resource_type):
            continue
        condition = resource.get("Condition")
        if parameters is not None and condition is not None:
            if condition_holds(template, condition, parameters) is False:
                continue
        properties = resource.get("Properties")
        yield logical_id, properties if isinstance(properties, dict) else {}


def shown(value, limit: int = 120) -> str:
    """A template value as compact text for a finding's ``seen``."""
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Check a parameter set against the parameters the template declares."""

import re
from collections.abc import Mapping

from tapstack.preflight.model import Finding, Severity

CHECK = "parameters"


def check_parameters(template: Mapping, given: Mapping[str, str]) -> list[Finding]:
    """Find given parameters the template does not declare, and values it would refuse.

    Parameters the template declares without a default and that were not given (the
    harness supplies ``CodeBucket``, ``CodeKey`` and ``EnvironmentSuffix`` at deploy time)
    are not reported.
    """
    declared = template.get("Parameters") or {}
    findings = []

    for name, value in given.items():
        spec = declared.get(name)
        if spec is None:
            findings.append(
                Finding(
                    check=CHECK,
                    severity=Severity.ERROR,
                    resource="Parameters",
                    property=name,
                    seen=str(value),
                    fix=f"remove {name} from the parameter set, or declare it in the template",
                    message=f"parameter {name} is not declared by the template; "
                    "CloudFormation refuses a deploy that passes it",
                )
            )
            continue
        problem = _constraint_problem(spec, str(value))
        if problem:
            findings.append(
                Finding(
                    check=CHECK,
                    severity=Severity.ERROR,
                    resource="Parameters",
                    property=name,
                    seen=str(value),
                    fix=f"give {name} a value that {problem[1]}",
                    message=f"parameter {name} = {value!r} {problem[0]}",
                )
            )
    return findings


def _constraint_problem(spec: Mapping, value: str) -> tuple[str, str] | None:
    """``(what is wrong, what would be right)`` for a value, or None if CloudFormation takes it."""
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "is not a number", "is a number"
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if low is not None and number < float(low):
            return f"is below MinValue {low}", f"is at least {low}"
        if high is not None and number > float(high):
            return f"is above MaxValue {high}", f"is at most {high}"

    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        return "is not one of the AllowedValues", f"is one of {', '.join(map(str, allowed))}"

    pattern = spec.get("AllowedPattern")
    if pattern is not None and spec.get("Type", "String") == "String":
        # CloudFormation anchors AllowedPattern at both ends.
        if not re.fullmatch(pattern, value):
            hint = spec.get("ConstraintDescription")
            expected = f"matches {pattern}" + (f" ({hint})" if hint else "")
            return f"does not match AllowedPattern {pattern}", expected

    if spec.get("Type", "String") == "String":
        length = len(value)
        if "MinLength" in spec and length < int(spec["MinLength"]):
            return f"is shorter than MinLength {spec['MinLength']}", "is long enough"
        if "MaxLength" in spec and length > int(spec["MaxLength"]):
            return f"is longer than MaxLength {spec['MaxLength']}", "is short enough"
    return None

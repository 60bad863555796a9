"""Just enough of CloudFormation's intrinsic functions to read values before a deploy.

Resolves ``Ref`` to a parameter or pseudo parameter, ``Fn::Sub`` and ``Fn::Join`` over
those, and evaluates the template's conditions. Anything else (``Fn::GetAtt``, ``Fn::If``,
imports) is only known after a deploy: ``resolve`` returns ``UNRESOLVED`` for it.
"""

import re
from collections.abc import Mapping

from tapstack import aws

UNRESOLVED = object()

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def pseudo_parameters() -> dict[str, str]:
    """Pseudo parameters whose values the preflight can know without an account."""
    region = aws.region()
    return {
        "AWS::Region": region,
        "AWS::Partition": "aws-cn" if region.startswith("cn-") else "aws",
        "AWS::URLSuffix": "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com",
        "AWS::NoValue": "",
    }


def resolve(value, parameters: Mapping[str, str], template: Mapping | None = None):
    """The literal ``value`` stands for, or ``UNRESOLVED`` when it needs a deployed stack.

    ``Ref: AWS::NoValue`` resolves to None (the property is absent). ``Fn::If`` is resolved
    only when ``template`` is given, since its condition lives there.
    """
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return UNRESOLVED

    ((function, argument),) = value.items()
    if function == "Ref" and argument == "AWS::NoValue":
        return None
    if function == "Ref":
        return _ref(argument, parameters)
    if function == "Fn::If" and template is not None:
        return _if(argument, parameters, template)
    if function == "Fn::Sub":
        return _sub(argument, parameters)
    if function == "Fn::Join":
        return _join(argument, parameters)
    return UNRESOLVED


def _if(argument, parameters, template):
    if not (isinstance(argument, list) and len(argument) == 3):
        return UNRESOLVED
    condition, when_true, when_false = argument
    holds = condition_holds(template, condition, parameters)
    if holds is UNRESOLVED:
        return UNRESOLVED
    return resolve(when_true if holds else when_false, parameters, template)


def _ref(name, parameters):
    if not isinstance(name, str):
        return UNRESOLVED
    if name in parameters:
        return parameters[name]
    return pseudo_parameters().get(name, UNRESOLVED)


def _sub(argument, parameters):
    if isinstance(argument, str):
        text, variables = argument, {}
    elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
        text, variables = argument
    else:
        return UNRESOLVED
    if not isinstance(text, str):
        return UNRESOLVED

    unresolved = False

    def replace(match):
        nonlocal unresolved
        name = match.group(1)
        if name in variables:
            found = resolve(variables[name], parameters)
        else:
            found = _ref(name, parameters)
        if found is UNRESOLVED or isinstance(found, dict | list):
            unresolved = True
            return ""
        return str(found)

    result = _SUB_VARIABLE.sub(replace, text).replace("${!", "${")
    return UNRESOLVED if unresolved else result


def _join(argument, parameters):
    if not (isinstance(argument, list) and len(argument) == 2):
        return UNRESOLVED
    delimiter, items = argument
    items = resolve(items, parameters)
    if not isinstance(delimiter, str) or not isinstance(items, list):
        return UNRESOLVED

    parts = [resolve(item, parameters) for item in items]
    if any(part is UNRESOLVED or isinstance(part, dict | list) for part in parts):
        return UNRESOLVED
    return delimiter.join(str(part) for part in parts)


def is_true(value, parameters: Mapping[str, str]):
    """Whether a template boolean is true: ``True``/``"true"``; ``UNRESOLVED`` if unknowable."""
    value = resolve(value, parameters)
    if value is UNRESOLVED:
        return UNRESOLVED
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def condition_holds(template: Mapping, name: str, parameters: Mapping[str, str]):
    """Whether the template's condition ``name`` is true; ``UNRESOLVED`` if unknowable."""
    conditions = template.get("Conditions") or {}
    if name not in conditions:
        return UNRESOLVED
    return _evaluate(conditions[name], template, parameters)


def _evaluate(expression, template, parameters):
    if not (isinstance(expression, dict) and len(expression) == 1):
        return resolve(expression, parameters)

    ((function, argument),) = expression.items()
    if function == "Condition":
        return condition_holds(template, argument, parameters)
    if function not in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
        return resolve(expression, parameters)

    values = [_evaluate(item, template, parameters) for item in argument]
    if any(value is UNRESOLVED for value in values):
        return UNRESOLVED
    if function == "Fn::Equals":
        return str(values[0]) == str(values[1])
    if function == "Fn::Not":
        return not values[0]
    return all(values) if function == "Fn::And" else any(values)

"""Run cfn-lint on the template and turn its matches into findings.

Rules starting with E become errors, W warnings; informational rules are not run.
Linting takes about a second, so results are cached per template text and regions.
"""

import functools
import json
import logging
from collections.abc import Sequence

from tapstack.preflight.checks import shown
from tapstack.preflight.model import Finding, Severity

LOG = logging.getLogger(__name__)

CHECK = "cfn-lint"


def check_lint(template_text: str, regions: Sequence[str] = ("us-east-1",)) -> list[Finding]:
    """Lint ``template_text`` (JSON) for ``regions`` and return cfn-lint's errors and warnings."""
    return list(_lint(template_text, tuple(regions)))


@functools.lru_cache(maxsize=8)
def _lint(template_text: str, regions: tuple[str, ...]) -> tuple[Finding, ...]:
    # cfn-lint is slow to import; only runs that lint pay for it.
    from cfnlint.api import lint

    LOG.debug("running cfn-lint for %s", ", ".join(regions))
    matches = lint(template_text, regions=list(regions))
    try:
        template = json.loads(template_text)
    except json.JSONDecodeError:
        template = None
    findings = [_finding(match, template) for match in matches]
    return tuple(finding for finding in findings if finding is not None)


def _finding(match, template) -> Finding | None:
    rule_id = match.rule.id
    if rule_id.startswith("E"):
        severity = Severity.ERROR
    elif rule_id.startswith("W"):
        severity = Severity.WARNING
    else:
        return None

    path = [str(part) for part in (getattr(match, "path", None) or [])]
    if len(path) >= 2 and path[0] == "Resources":
        resource = path[1]
        rest = path[3:] if len(path) > 2 and path[2] == "Properties" else path[2:]
    elif path:
        resource, rest = path[0], path[1:]
    else:
        resource, rest = "(template)", []

    return Finding(
        check=CHECK,
        severity=severity,
        resource=resource,
        property="/".join(rest),
        seen=_value_at(template, getattr(match, "path", None)),
        fix=f"{match.rule.shortdesc}; see {match.rule.source_url}",
        message=f"{rule_id} {match.message}",
        line=match.linenumber,
    )


def _value_at(template, path) -> str:
    """The template value a match points at, as text; empty when it cannot be found."""
    if template is None or not path:
        return ""
    node = template
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return ""
    return shown(node)

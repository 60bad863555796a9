"""``run_preflight``: every check on one template and one parameter set."""

import copy
import json
import logging
import os
from collections.abc import Mapping

from tapstack import aws
from tapstack.preflight.checks.concurrency import check_concurrency
from tapstack.preflight.checks.iam import check_iam
from tapstack.preflight.checks.lint import check_lint
from tapstack.preflight.checks.parameters import check_parameters
from tapstack.preflight.checks.promises import check_promises
from tapstack.preflight.inputs import effective_parameters, read_template
from tapstack.preflight.model import AccountConcurrency, Report

LOG = logging.getLogger(__name__)


def run_preflight(
    template: str | os.PathLike | Mapping,
    parameters: Mapping[str, str],
    *,
    account: AccountConcurrency | Mapping | None = None,
    lint: bool = True,
) -> Report:
    """Check a template and a parameter set before a deploy, and report every finding.

    Args:
        template: path to a JSON template, or an already parsed template (a mapping).
        parameters: parameter values as CloudFormation gets them; declared parameters
            missing here take their defaults.
        account: the account's Lambda concurrency, or a raw ``lambda:GetAccountSettings``
            response (minimum unreserved 100 then); None skips the quota check with a
            warning. ``read_account_concurrency`` reads it from an endpoint and also
            counts reservations the stack's functions hold today, which a deploy replaces.
        lint: run cfn-lint too (about a second per distinct template).

    Returns:
        A ``Report``; ``report.ok`` is False when any finding is an error, and
        ``report.raise_for_errors()`` turns that into ``PreflightFailed``.

    Raises:
        TemplateError: the template is missing or is not JSON.
        AccountSettingsError: ``account`` is a response without the concurrency limit.
    """
    if isinstance(account, Mapping):
        account = AccountConcurrency.from_account_settings(account)

    if isinstance(template, Mapping):
        source = "<template>"
        document = copy.deepcopy(dict(template))
        text = json.dumps(document, indent=2)
    else:
        source = str(template)
        text, document = read_template(template)

    given = {key: str(value) for key, value in parameters.items()}
    values = effective_parameters(document, given)

    findings = []
    checks = ["parameters", "concurrency"]
    findings += check_parameters(document, given)
    findings += check_concurrency(document, values, account)
    if lint:
        checks.append("cfn-lint")
        findings += check_lint(text, regions=(aws.region(),))
    checks += ["promises", "iam"]
    findings += check_promises(document, values)
    findings += check_iam(document)

    report = Report(
        template=source,
        parameters=values,
        findings=tuple(findings),
        checks=tuple(checks),
        account=account,
    )
    LOG.debug("%s for %s", report.summary(), source)
    return report

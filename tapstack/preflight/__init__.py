"""Checks run on a template and a parameter set before any deploy.

A deploy step calls ``run_preflight`` and stops on errors::

    from tapstack.preflight import load_parameters, run_preflight

    report = run_preflight(TEMPLATE_PATH, load_parameters("localstack"), account=None)
    report.raise_for_errors()   # PreflightFailed, carrying the report

The command line is ``tapstack preflight`` (see ``tapstack.preflight.cli``).
"""

from tapstack.preflight.checks.concurrency import (
    fitting_reservations,
    function_names,
    read_account_concurrency,
)
from tapstack.preflight.checks.iam import ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS
from tapstack.preflight.errors import (
    AccountSettingsError,
    ParameterError,
    PreflightError,
    PreflightFailed,
    TemplateError,
)
from tapstack.preflight.inputs import (
    available_parameter_sets,
    effective_parameters,
    load_parameters,
    load_template,
    parse_overrides,
)
from tapstack.preflight.model import AccountConcurrency, Finding, Report, Severity
from tapstack.preflight.runner import run_preflight

__all__ = [
    "ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS",
    "AccountConcurrency",
    "AccountSettingsError",
    "Finding",
    "ParameterError",
    "PreflightError",
    "PreflightFailed",
    "Report",
    "Severity",
    "TemplateError",
    "available_parameter_sets",
    "effective_parameters",
    "fitting_reservations",
    "function_names",
    "load_parameters",
    "load_template",
    "parse_overrides",
    "read_account_concurrency",
    "run_preflight",
]

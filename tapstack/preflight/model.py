"""What a preflight run produces: findings, and the report that collects them."""

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from tapstack.preflight.errors import AccountSettingsError, PreflightFailed


class Severity(enum.StrEnum):
    """How much a finding matters: an error stops a deploy, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem in a template or a parameter set, with the value seen and the fix.

    ``resource`` is a logical id (or several, comma-separated, or ``Parameters``),
    ``property`` the path below it, ``seen`` the offending value as text.
    """

    check: str
    severity: Severity
    resource: str
    property: str
    seen: str
    fix: str
    message: str
    line: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether this finding stops a deploy."""
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return f"{self.severity}: {self.one_line()}"

    def one_line(self) -> str:
        """The finding as a single line: check, where, and what."""
        where = f"{self.resource}.{self.property}" if self.property else self.resource
        return f"[{self.check}] {where}: {self.message}"

    def to_dict(self) -> dict:
        """The finding as JSON-ready data."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


@dataclass(frozen=True)
class AccountConcurrency:
    """The Lambda concurrency figures of the account a stack would be deployed to.

    ``limit`` is AccountLimit.ConcurrentExecutions, ``unreserved`` is
    AccountLimit.UnreservedConcurrentExecutions (equal to ``limit`` when nothing is
    reserved), ``minimum_unreserved`` what Lambda insists stays unreserved (100 on most
    accounts, 10 or 50 on small new ones). ``existing_reservations`` maps function names
    the stack would (re)create to what they reserve today: that reservation is replaced,
    not added to.
    """

    limit: int
    unreserved: int
    minimum_unreserved: int = 100
    existing_reservations: Mapping[str, int] = field(default_factory=dict, hash=False)

    @classmethod
    def from_account_settings(
        cls,
        settings: Mapping,
        *,
        minimum_unreserved: int = 100,
        existing_reservations: Mapping[str, int] | None = None,
    ) -> "AccountConcurrency":
        """Build the figures from a ``lambda:GetAccountSettings`` response.

        Raises:
            AccountSettingsError: the response has no AccountLimit.ConcurrentExecutions.
        """
        limits = settings.get("AccountLimit") or {}
        limit = limits.get("ConcurrentExecutions")
        if limit is None:
            raise AccountSettingsError(
                "lambda:GetAccountSettings returned no AccountLimit.ConcurrentExecutions "
                f"(saw {settings.get('AccountLimit')!r}); use --account-limit N instead"
            )
        return cls(
            limit=int(limit),
            unreserved=int(limits.get("UnreservedConcurrentExecutions", limit)),
            minimum_unreserved=minimum_unreserved,
            existing_reservations=dict(existing_reservations or {}),
        )

    @property
    def reserved_elsewhere(self) -> int:
        """What functions outside this stack reserve today."""
        reserved = self.limit - self.unreserved - sum(self.existing_reservations.values())
        return max(reserved, 0)

    def to_dict(self) -> dict:
        """The figures as JSON-ready data."""
        return {
            "limit": self.limit,
            "unreserved": self.unreserved,
            "minimum_unreserved": self.minimum_unreserved,
            "existing_reservations": dict(self.existing_reservations),
            "reserved_elsewhere": self.reserved_elsewhere,
        }


@dataclass(frozen=True)
class Report:
    """Every finding of one preflight run; ``ok`` when none of them is an error."""

    template: str
    parameters: Mapping[str, str]
    findings: tuple[Finding, ...]
    checks: tuple[str, ...]
    account: AccountConcurrency | None = None

    @property
    def errors(self) -> list[Finding]:
        """The findings that stop a deploy."""
        return [finding for finding in self.findings if finding.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """The findings worth reading that do not stop a deploy."""
        return [finding for finding in self.findings if finding.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    def summary(self) -> str:
        """One line: how many errors and warnings, e.g. ``preflight: 2 errors, 1 warning``."""
        errors, warnings = len(self.errors), len(self.warnings)
        return (
            f"preflight: {errors} error{'' if errors == 1 else 's'}, "
            f"{warnings} warning{'' if warnings == 1 else 's'}"
        )

    def raise_for_errors(self) -> "Report":
        """Raise ``PreflightFailed`` when the report holds an error; return the report otherwise."""
        if not self.ok:
            raise PreflightFailed(self)
        return self

    def to_dict(self) -> dict:
        """The report as JSON-ready data (what ``tapstack preflight --json`` prints)."""
        return {
            "template": self.template,
            "ok": self.ok,
            "summary": self.summary(),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": list(self.checks),
            "parameters": dict(self.parameters),
            "account": self.account.to_dict() if self.account else None,
            "findings": [finding.to_dict() for finding in self.findings],
        }

"""Settings the handlers read from their environment, at call time."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_HISTORY_RETENTION_DAYS = 30


class SettingError(RuntimeError):
    """An environment variable the handler needs is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment; each property names the variable it reads."""

    environ: Mapping[str, str] = field(repr=False)

    def _required(self, name: str) -> str:
        value = self.environ.get(name, "").strip()
        if not value:
            raise SettingError(f"environment variable {name} is not set; the template must set it")
        return value

    @property
    def price_history_table(self) -> str:
        return self._required("PRICE_HISTORY_TABLE")

    @property
    def alerts_table(self) -> str:
        return self._required("ALERTS_TABLE")

    @property
    def alerts_symbol_index(self) -> str:
        return self._required("ALERTS_SYMBOL_INDEX")

    @property
    def notification_topic_arn(self) -> str:
        return self._required("NOTIFICATION_TOPIC_ARN")

    @property
    def send_notification_function(self) -> str:
        return self._required("SEND_NOTIFICATION_FUNCTION")

    @property
    def history_retention_days(self) -> int:
        """Days a price-history item is kept (``HISTORY_RETENTION_DAYS``, default 30)."""
        raw = self.environ.get("HISTORY_RETENTION_DAYS", "").strip()
        if not raw:
            return DEFAULT_HISTORY_RETENTION_DAYS
        try:
            days = int(raw)
        except ValueError:
            days = 0
        if days < 1:
            raise SettingError(f"HISTORY_RETENTION_DAYS must be a whole number >= 1, got {raw!r}")
        return days

    @property
    def fail_on_symbols(self) -> frozenset[str]:
        """Symbols whose stream records CheckAlerts rejects on purpose (``FAIL_ON_SYMBOLS``).

        A fault-injection hook for integration tests; empty (the default) disables it.
        """
        raw = self.environ.get("FAIL_ON_SYMBOLS", "")
        return frozenset(part.strip() for part in raw.split(",") if part.strip())


def load() -> Settings:
    """Read the settings from ``os.environ`` as it is now."""
    return Settings(dict(os.environ))

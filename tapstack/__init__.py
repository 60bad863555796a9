"""Integration-test harness for the TapStack price-alert stack on LocalStack."""

__version__ = "0.1.0"

"""The console's browser tests: fixtures from console_support."""

from console_support import page, served  # noqa: F401 - fixtures

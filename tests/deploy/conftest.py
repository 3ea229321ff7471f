"""Fixtures for the install tests: a real PostgreSQL for the image smoke test."""

from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

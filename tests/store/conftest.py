from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

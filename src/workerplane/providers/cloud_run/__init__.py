"""The ``gcp-cloud-run`` provider: :mod:`.details` (pure) and :mod:`.provider` (Google's client)."""

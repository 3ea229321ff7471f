"""The ``subprocess`` provider: :mod:`.details` (pure) and :mod:`.provider` (local processes)."""

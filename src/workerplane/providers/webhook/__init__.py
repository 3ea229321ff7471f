"""The ``webhook`` provider: :mod:`.details` (pure), :mod:`.signature` (for receivers too) and
:mod:`.provider` (httpx)."""

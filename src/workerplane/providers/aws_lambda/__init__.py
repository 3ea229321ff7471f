"""The ``aws-lambda`` provider: :mod:`.details` (pure) and :mod:`.provider` (boto3)."""

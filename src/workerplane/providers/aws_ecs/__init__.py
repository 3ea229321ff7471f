"""The ``aws-ecs`` provider: :mod:`.details` (pure) and :mod:`.provider` (boto3)."""

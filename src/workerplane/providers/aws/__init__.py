"""What the AWS providers share: the access settings (:mod:`.access`) and the clients."""

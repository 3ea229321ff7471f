"""Worker providers behind a Nexus endpoint: the service contract and the handler a team runs."""

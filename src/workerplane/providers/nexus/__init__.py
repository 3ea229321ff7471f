"""The controller's side of a provider reached through a Nexus endpoint."""

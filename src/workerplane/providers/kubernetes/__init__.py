"""The Kubernetes provider: scale a user's Deployment, or own a managed worker Deployment.

Kept import-light on purpose: :mod:`.spec` (pure pydantic) is imported by the config layer, so this
package must not pull in the ``kubernetes`` client. Import :mod:`.provider` for the provider.
"""

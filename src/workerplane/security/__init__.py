"""Secrets handling for the control plane: API tokens (:mod:`.tokens`), encryption at rest
(:mod:`.crypto`), the redaction marker and the log scrubber (:mod:`.redact`).

Nothing is imported here, so that the pure config layer can import :mod:`.redact` without
pulling in the cryptography library.
"""

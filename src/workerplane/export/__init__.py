"""Exports of a deployment spec to other autoscalers (KEDA)."""

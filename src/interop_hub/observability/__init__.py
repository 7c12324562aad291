"""Observability of the HTTP service: request ids, access logs, latency metrics, /metrics."""

"""Declarative checks: kinds (http, tls, hubble) in a registry, a runner with retries, reports."""

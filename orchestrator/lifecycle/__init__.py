"""Lifecycle: the state of an instance, and up/verify/down as explicit ordered steps."""

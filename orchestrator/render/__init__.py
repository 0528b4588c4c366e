"""Rendering: the Jinja environment (engine) and writing every artifact of a lab (artifacts)."""

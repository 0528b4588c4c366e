"""Lab spec: load → validate (every error at once) → merge overrides → resolve templated values."""

from orchestrator.spec.load import load_lab
from orchestrator.spec.model import Check, Lab, Step

__all__ = ["Check", "Lab", "Step", "load_lab"]

"""How `lab` was installed, so a fix it suggests is one the user can type: in this project's checkout the
Makefile's targets exist; installed as a package they do not."""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def in_checkout() -> bool:
    """Running from the project's own checkout (an editable install), where `make` targets exist."""
    return (CHECKOUT / "Makefile").is_file() and (CHECKOUT / "scripts" / "docker-engine.sh").is_file()


def fix(in_the_checkout: str, installed: str) -> str:
    """The fix as the user can type it: the checkout's make target there, the general one elsewhere."""
    return f"{in_the_checkout} (in {CHECKOUT})" if in_checkout() else installed

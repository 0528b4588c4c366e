"""lab: reproducible Kubernetes networking and TLS labs."""

from orchestrator.version import __version__

__all__ = ["__version__", "run"]


def run() -> None:
    """The `lab` program: Ctrl-C while the command line itself is still loading ends it as quietly as later on."""
    try:
        from orchestrator.cli import run as cli_run
    except KeyboardInterrupt:
        import os
        import sys

        print("Interrupted.", file=sys.stderr)
        os._exit(130)
    cli_run()

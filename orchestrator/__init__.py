"""lab: reproducible Kubernetes networking and TLS labs."""

__version__ = "0.1.0"


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

"""One error root for everything `lab` reports to a user; `cli.main` is the one exit path."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PREREQUISITE = 3
EXIT_INTERRUPTED = 130


class LabError(Exception):
    """Base of every error shown to the user as `Error: ...` without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInput(LabError):
    """Spec, values, arguments or files given by the user are wrong (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class SpecErrors(BadInput):
    """Every problem found in a spec, reported at once, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class MissingPrerequisite(LabError):
    """A tool or service the command needs is absent (exit 3); `hint` says how to fix it."""

    exit_code = EXIT_PREREQUISITE


class ChecksFailed(LabError):
    """At least one lab check failed (exit 1)."""

    exit_code = EXIT_CHECK_FAILED


class RuntimeFailure(LabError):
    """An external system (docker, kind, helm, Kubernetes) failed while we drove it (exit 1)."""

    exit_code = 1


class PermanentFailure(RuntimeFailure):
    """A failure that waiting cannot heal (a pod or container gone, the engine down): retries stop at once."""


class StepFailed(LabError):
    """A lifecycle step failed; carries the step's name and the error that stopped it."""

    def __init__(self, step: str, cause: LabError):
        super().__init__(cause.message, hint=cause.hint)
        self.step = step
        self.cause = cause
        self.exit_code = cause.exit_code


class CommandFailed(RuntimeFailure):
    """A subprocess exited non-zero; carries the argv and its output."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str):
        import shlex

        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        tail = (stderr or stdout).strip().splitlines()[-5:]
        detail = ("\n  " + "\n  ".join(tail)) if tail else ""
        super().__init__(f"command failed (exit {returncode}): {shlex.join(argv)}{detail}")

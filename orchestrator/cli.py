"""Command line: thin Click commands that parse, build the context, and call one core function.

Nothing heavy (docker, kubernetes, cryptography) is imported here so `lab --help` stays instant.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from orchestrator.version import __version__
from orchestrator.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, LabError

OUTPUTS = click.Choice(["table", "json", "text"])  # text: the earlier name of table, still accepted
MAX_PROBLEMS_SHOWN = 20
MAX_LINE = 400


def _complete_labs(_ctx, _param, incomplete: str) -> list[str]:
    """Lab names for the shell's completion (no spec is read: listing folders is enough)."""
    from orchestrator.catalog import Catalog, default_lab_roots

    try:
        return [e.name for e in Catalog(default_lab_roots()).entries() if e.name.startswith(incomplete)]
    except (LabError, OSError):  # a completion never prints an error into the user's prompt
        return []


def _complete_instances(ctx, _param, incomplete: str) -> list[str]:
    """Instance names recorded in any home on this machine, for the shell's completion."""
    from orchestrator.lifecycle.homes import instances_everywhere

    try:
        home = ctx.find_root().params.get("home") or Path.cwd()
        return sorted({name for _, name in instances_everywhere(Path(home))[0] if name.startswith(incomplete)})
    except (LabError, OSError):
        return []


lab_argument = click.argument("lab", shell_complete=_complete_labs)


def instance_argument(required: bool = True):
    """LAB where the command acts on an instance that is up (named after its lab unless --instance was given)."""
    return click.argument("lab", required=required, shell_complete=_complete_instances)


def value_options(func):
    """--set / -f / --instance: helm-style overrides, wherever values matter."""

    @click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a value (repeatable), e.g. --set images.haproxy=haproxy:2.9.")
    @click.option("-f", "--values", "values_files", multiple=True, type=click.Path(path_type=Path), help="YAML values file (repeatable, later wins).")
    @click.option("--images", "images_files", multiple=True, type=click.Path(path_type=Path),
                  help="Images file (`images: {KEY: REF}`), e.g. a workshop's local images; keys a lab lacks are ignored.")
    @click.option("--instance", shell_complete=_complete_instances,
                  help="Instance name (default: the lab name); run several copies side by side.")
    @functools.wraps(func)
    def wrapper(*args, sets, values_files, images_files, instance, **kwargs):
        from orchestrator.context import Overrides

        return func(*args, overrides=Overrides(tuple(values_files), tuple(sets), instance, tuple(images_files)), **kwargs)

    return wrapper


def instance_option(func):
    """--instance alone: for commands on a pod of an instance that is up (its values are those it was brought up with)."""

    @click.option("--instance", shell_complete=_complete_instances, help="Instance name (default: the lab name).")
    @functools.wraps(func)
    def wrapper(*args, instance, **kwargs):
        from orchestrator.context import Overrides

        return func(*args, overrides=Overrides(instance=instance), **kwargs)

    return wrapper


def pki_option(func):
    """The PKI folder, one name wherever a command takes it (`--out` stays as an old spelling of it)."""
    return click.option("--pki", "--out", "pki", type=click.Path(path_type=Path), help="PKI folder (default: certs/<instance>).")(func)


def output_option(func):
    return click.option("-o", "--output", type=OUTPUTS, default="table", show_default=True,
                        callback=lambda _ctx, _param, value: "table" if value == "text" else value,
                        help="table for people, json alone on stdout for programs.")(func)


class LabGroup(click.Group):
    def format_epilog(self, ctx, formatter):
        formatter.write_paragraph()
        formatter.write_text("Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 missing prerequisite, 130 interrupted.")


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lab")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--bundle", type=click.Path(path_type=Path, file_okay=False), multiple=True,
              help="An offline bundle (artifacts with a SHA256SUMS file) to resolve pinned upstream files from; as LAB_BUNDLE.")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False), envvar="LAB_HOME", show_envvar=True,
              help="Folder for instances' records, certs/, rendered/ and guide/ (default: the current folder).")
@click.pass_context
def cli(click_ctx: click.Context, debug: bool, bundle: tuple[Path, ...], home: Path | None) -> None:
    """Reproducible Kubernetes networking and TLS labs."""
    import os

    from orchestrator.context import LabContext

    if bundle:  # where every later lookup of an artifact starts (the same rule whoever asks)
        os.environ["LAB_BUNDLE"] = os.pathsep.join(str(b.resolve()) for b in bundle)
    click_ctx.obj = LabContext(debug=debug) if home is None else LabContext(workdir=home.resolve(), debug=debug)


@cli.command("list")
@output_option
@click.pass_obj
def list_cmd(ctx, output):
    """List the labs found (name, title, runtimes)."""
    from orchestrator.commands.labs import list_labs

    list_labs(ctx, output)


@cli.command()
@lab_argument
@value_options
@output_option
@click.pass_obj
def show(ctx, lab, overrides, output):
    """Show what LAB does: values, certificates, steps, checks and pinned images."""
    from orchestrator.commands.labs import show_lab

    show_lab(ctx, lab, overrides, output)


class CertsGroup(click.Group):
    """`lab certs LAB` issues; `lab certs show PATH` and `lab certs verify LAB` are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["issue", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=CertsGroup)
def certs():
    """Issue (`lab certs LAB`), inspect (`show PATH`) and verify (`verify LAB`) a lab's PKI."""


@certs.command("issue")
@lab_argument
@pki_option
@click.option("--force", is_flag=True, help="Reissue everything, even valid material.")
@value_options
@output_option
@click.pass_obj
def certs_issue(ctx, lab, pki, force, overrides, output):
    """Issue LAB's PKI: root CA, intermediate CA and leaf certificates (reuses what is still valid)."""
    from orchestrator.commands.certs import certs_command

    certs_command(ctx, lab, overrides, pki, force, output)


@certs.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@output_option
@click.pass_obj
def certs_show(ctx, path, output):
    """Summarize the certificate(s) in PATH: subject, issuer, validity, SANs, usages, CA."""
    from orchestrator.commands.certs import show_cert

    show_cert(ctx, path, output)


@certs.command("verify")
@lab_argument
@pki_option
@value_options
@output_option
@click.pass_obj
def certs_verify(ctx, lab, pki, overrides, output):
    """Verify every chain of LAB's PKI and show expiry (exit 1 when one fails)."""
    from orchestrator.commands.certs import verify_certs

    verify_certs(ctx, lab, overrides, pki, output)


@cli.command()
@lab_argument
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: rendered/<instance>).")
@click.option("--pki", "pki", type=click.Path(path_type=Path),
              help="PKI folder to reuse and keep (default: --out's pki/ when --out is given, else certs/<instance>).")
@value_options
@output_option
@click.pass_obj
def render(ctx, lab, out, pki, overrides, output):
    """Write every artifact of LAB: kind config, Cilium values, compose stack, manifests (nothing outside --out)."""
    from orchestrator.commands.render import render_command

    render_command(ctx, lab, overrides, out, pki, output)


# Names are checked by the runtime registry (an unknown one lists the valid ones); building it here would
# load the spec machinery at start-up.
run_options = click.option(
    "--runtime", metavar="NAME", help="Where to run: kind or docker (default: the first the lab supports that this machine can run)."
)


def _complete_stages(ctx, _param, incomplete: str) -> list[str]:
    """The stages of the lab named before (an instance's lab, else a lab of that name), for the shell's completion."""
    from orchestrator.context import LabContext

    try:
        name = ctx.params.get("lab") or ""
        lab_ctx = LabContext()
        from orchestrator.lifecycle.state import InstanceState

        state = InstanceState(lab_ctx.state_dir(name))
        lab = lab_ctx.load(state.data.get("lab", name), state.recorded_overrides() if state.exists else None)
        return [s.name for s in lab.stages if s.name.startswith(incomplete)]
    except (LabError, OSError):
        return []


stage_argument = click.argument("stage", required=False, shell_complete=_complete_stages)
wait_option = click.option("--wait", "check_wait", type=click.FloatRange(0, 3600), metavar="SECONDS",
                           help="Retry each failing check at most SECONDS (default: the lab's own timeout; 0: one attempt).")


@cli.command()
@lab_argument
@run_options
@click.option("--until", metavar="STAGE", shell_complete=_complete_stages,
              help="Stop before STAGE and leave it to do by hand (`lab steps` lists the stages).")
@click.option("--retain", is_flag=True, help="Keep what exists when making the cluster or stack fails, for debugging.")
@click.option("--down-on-failure", is_flag=True,
              help="Tear everything down after any failure (CI). Without it a failed check or step leaves the lab up to look at.")
@click.option("--no-verify", is_flag=True, help="Bring everything up but run no check.")
@wait_option
@click.option("--skip", multiple=True, metavar="STEP", help="Leave a step out (repeatable), e.g. to show what fails without it.")
@click.option("--junit", type=click.Path(path_type=Path), help="Write the check results as JUnit XML.")
@click.option("--pause", is_flag=True, help="Explain each lab step and wait for Enter before running it (workshops).")
@value_options
@output_option
@click.pass_obj
def up(ctx, lab, runtime, until, retain, down_on_failure, no_verify, check_wait, skip, junit, pause, overrides, output):
    """Bring LAB up stage by stage and run its checks (exit 1 when a check fails)."""
    from orchestrator.commands.up import up as run_up
    from orchestrator.lifecycle.run import RunOptions

    run_up(ctx, lab, overrides, RunOptions(runtime=runtime, retain=retain, verify=not no_verify, skip=tuple(skip), output=output,
                                           junit=junit, pause=pause, until=until, down_on_failure=down_on_failure,
                                           check_wait=check_wait))


junit_option = click.option("--junit", type=click.Path(path_type=Path), help="Write the check results as JUnit XML.")


@cli.command()
@instance_argument()
@junit_option
@wait_option
@value_options
@output_option
@click.pass_obj
def verify(ctx, lab, junit, check_wait, overrides, output):
    """Rerun the checks of LAB's final state (its last stage) against what is up."""
    from orchestrator.commands.stages import verify as run_verify
    from orchestrator.lifecycle.run import RunOptions

    run_verify(ctx, lab, overrides, RunOptions(output=output, junit=junit, check_wait=check_wait))


@cli.command()
@instance_argument()
@stage_argument
@junit_option
@wait_option
@value_options
@output_option
@click.pass_obj
def check(ctx, lab, stage, junit, check_wait, overrides, output):
    """Run STAGE's checks against what is up (default: the stage you are on); on failure, what was seen and a hint."""
    from orchestrator.commands.stages import check as run_check
    from orchestrator.lifecycle.run import RunOptions

    run_check(ctx, lab, stage, overrides, RunOptions(output=output, junit=junit, check_wait=check_wait))


@cli.command()
@instance_argument()
@stage_argument
@click.option("--step", "step", metavar="STEP", help="Do only this step (one you cannot type on this runtime, as its guide says).")
@junit_option
@value_options
@output_option
@click.pass_obj
def solve(ctx, lab, stage, step, junit, overrides, output):
    """Do the stages not done yet, up to STAGE (default: the one you are on), as `lab up` would: catch up."""
    from orchestrator.commands.stages import solve as run_solve
    from orchestrator.lifecycle.run import RunOptions

    run_solve(ctx, lab, stage, overrides, RunOptions(output=output, junit=junit), step)


@cli.command()
@instance_argument()
@click.option("--to", "to", metavar="STAGE", required=True, shell_complete=_complete_stages,
              help="The stage to return to: the lab is left as it was just before it.")
@click.option("--down-on-failure", is_flag=True, help="Tear everything down after any failure (CI).")
@junit_option
@value_options
@output_option
@click.pass_obj
def reset(ctx, lab, to, down_on_failure, junit, overrides, output):
    """Return LAB to the state just before a stage, keeping its cluster and stack: what the lab's steps made is
    removed, the stages before it are done again."""
    from orchestrator.commands.stages import reset as run_reset
    from orchestrator.lifecycle.run import RunOptions

    run_reset(ctx, lab, to, overrides, RunOptions(output=output, junit=junit, down_on_failure=down_on_failure))


@cli.command()
@instance_argument()
@value_options
@output_option
@click.pass_obj
def steps(ctx, lab, overrides, output):
    """Show LAB's stages: done, failed, skipped or to do, and the one you are on."""
    from orchestrator.commands.stages import steps as show_steps

    show_steps(ctx, lab, overrides, output)


pod_argument = click.argument("pod")


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@instance_argument()
@pod_argument
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD...")
@click.option("-t", "--tty", is_flag=True, help="Give the command a terminal (an interactive program).")
@instance_option
@click.pass_obj
def exec_cmd(ctx, lab, pod, argv, tty, overrides):
    """Run CMD in POD of LAB (POD: its name in the lab's manifests, NAMESPACE/NAME, or a workload's name), the same on
    every runtime; exits with CMD's status. Example: lab exec inject-mtls curl -- curl -s http://haproxy:8083/"""
    from orchestrator.commands.pods import exec_in

    sys.exit(exec_in(ctx, lab, pod, list(argv), overrides, tty))  # CMD's status (Click returns an Exit's code, not raise it)


@cli.command()
@instance_argument()
@pod_argument
@click.option("--shell", "shell_path", default="sh", show_default=True, help="The shell to start.")
@instance_option
@click.pass_obj
def shell(ctx, lab, pod, shell_path, overrides):
    """Open a shell in POD of LAB (exit it to come back)."""
    from orchestrator.commands.pods import exec_in

    sys.exit(exec_in(ctx, lab, pod, [shell_path], overrides, sys.stdin.isatty()))


@cli.command()
@instance_argument()
@pod_argument
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option("--tail", type=click.IntRange(0), help="Only the last N lines.")
@instance_option
@click.pass_obj
def logs(ctx, lab, pod, follow, tail, overrides):
    """Print the logs of POD of LAB."""
    from orchestrator.commands.pods import logs as show_logs

    sys.exit(show_logs(ctx, lab, pod, overrides, follow, tail))


@cli.command()
@instance_argument(required=False)
@click.option("--all", "all_", is_flag=True, help="Tear down every instance on this machine (every home `lab up` used).")
@click.option("--instance", shell_complete=_complete_instances, help="Instance to remove (default: the lab's name).")
@output_option
@click.pass_obj
def down(ctx, lab, all_, instance, output):
    """Remove everything LAB's instance created (containers, networks it made, cluster), from its record
    alone (the lab's folder may be gone), from whichever folder it was brought up in; safe to run twice."""
    from orchestrator.commands.down import down as run_down, down_all
    from orchestrator.context import Overrides
    from orchestrator.errors import BadInput

    if all_:
        down_all(ctx, output)
    elif lab is not None or instance is not None:
        run_down(ctx, lab or instance, Overrides(instance=instance), output)
    else:
        raise BadInput("lab down: name a LAB (or --instance NAME), or use --all")


@cli.command()
@instance_argument()
@click.option("--instance", shell_complete=_complete_instances, help="Instance (default: the lab's name).")
@click.pass_obj
def kubeconfig(ctx, lab, instance):
    """Print the path of LAB's admin kubeconfig (use: export KUBECONFIG=$(lab kubeconfig LAB))."""
    from orchestrator.commands.status import kubeconfig as show_kubeconfig

    show_kubeconfig(ctx, instance or lab)


@cli.command(name="env")
@instance_argument()
@click.option("--instance", shell_complete=_complete_instances, help="Instance (default: the lab's name).")
@click.pass_obj
def env(ctx, lab, instance):
    """Print the shell exports for doing LAB by hand, as its guide does (use: eval "$(lab env LAB)")."""
    from orchestrator.commands.status import shell_env

    shell_env(ctx, instance or lab)


@cli.command()
@lab_argument
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: guide/<instance>).")
@click.option("--format", "formats", type=click.Choice(["html", "md"]), multiple=True,
              help="html (one self-contained file) or md (with a Mermaid picture); both when not given.")
@click.option("--results", is_flag=True, help="Mark each check with the last `up`/`verify` result: a verified walkthrough.")
@run_options
@value_options
@output_option
@click.pass_obj
def guide(ctx, lab, out, formats, results, runtime, overrides, output):
    """Write LAB's walkthrough: story, topology picture, each step with its commands and expectations."""
    from orchestrator.commands.guide import FORMATS, guide as write_guide

    write_guide(ctx, lab, overrides, out, tuple(formats) or FORMATS, results, runtime, output)


@cli.command()
@instance_argument(required=False)
@output_option
@click.pass_obj
def status(ctx, lab, output):
    """Show what is up: every recorded instance, or LAB's."""
    from orchestrator.commands.status import status as show_status

    show_status(ctx, lab, output)


@cli.command()
@lab_argument
@run_options
@value_options
@output_option
@click.pass_obj
def doctor(ctx, lab, runtime, overrides, output):
    """Check this machine for LAB: Docker, kind/helm/kubectl, inotify, subnet, images (exit 3 if missing)."""
    from orchestrator.commands.doctor import doctor as run_doctor

    run_doctor(ctx, lab, overrides, runtime, output)


class ImagesGroup(click.Group):
    """`lab images LAB` lists; `pull LAB`, `save LAB --out`, `load BUNDLE` are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=ImagesGroup)
def images():
    """List (`lab images LAB`), pull, save and load a lab's images for offline workshops."""


def images_command(name: str, *extra_options):
    """A `lab images` subcommand on LAB: resolves the lab and its runtime, then calls the wrapped function."""

    def decorate(func):
        @lab_argument
        @run_options
        @value_options
        @click.pass_obj
        @functools.wraps(func)
        def command(ctx, lab, runtime, overrides, **kwargs):
            loaded = ctx.load(lab, overrides)
            # Images are listed for the runtime asked for, else for the lab's preferred one, available here or not.
            chosen = runtime or next(n for n in ctx.runtimes.names() if n in loaded.runtimes)
            ctx.runtimes.select(loaded.runtimes, chosen, loaded.name)
            return func(ctx, loaded, chosen, **kwargs)

        for option in reversed(extra_options):
            command = option(command)
        return images.command(name)(command)

    return decorate


@images_command("list", output_option)
def images_list(ctx, lab, runtime, output):
    """Every image LAB needs for the runtime."""
    from orchestrator.commands import images as imgs

    imgs.list_images(ctx, lab, runtime, output)


@images_command("pull")
def images_pull(ctx, lab, runtime):
    """Pull every image LAB needs (on a connected machine)."""
    from orchestrator.commands import images as imgs

    imgs.pull(ctx, lab, runtime)


@images_command("save", click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle to write (docker save tar)."))
def images_save(ctx, lab, runtime, out):
    """Save every image LAB needs into one bundle for offline machines."""
    from orchestrator.commands import images as imgs

    imgs.save(ctx, lab, runtime, out)


@images.command("load")
@click.argument("bundle", type=click.Path(path_type=Path, exists=True))
@click.pass_obj
def images_load(ctx, bundle):
    """Load a bundle written by `lab images save`."""
    from orchestrator.commands import images as imgs

    imgs.load(ctx, bundle)


@cli.command("bundle")
@click.argument("labs", nargs=-1, metavar="LAB...", shell_complete=_complete_labs)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The bundle folder to write.")
@click.option("--images/--no-images", default=True, show_default=True, help="Save the images the labs run too (needs Docker).")
@run_options
@output_option
@click.pass_obj
def bundle_cmd(ctx, labs, out, images, runtime, output):
    """Write one offline workshop bundle for LABs: their pinned upstream files with a SHA256SUMS, and their images."""
    from orchestrator.commands.bundle import bundle, check_names

    check_names(labs)
    bundle(ctx, labs, out, images, runtime, output)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "fish", "zsh"]))
def completion(shell):
    """Print SHELL's completion script for lab: commands, options, lab names and instance names complete.

    \b
    bash: eval "$(lab completion bash)"    # in ~/.bashrc
    zsh:  eval "$(lab completion zsh)"     # in ~/.zshrc, after compinit
    fish: lab completion fish > ~/.config/fish/completions/lab.fish
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "lab", "_LAB_COMPLETE").source()
    click.echo(script)


def _bounded(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def show_error(exc: LabError) -> None:
    """`Error: ...` on stderr, a screenful at most: long lines cut, a long list of problems counted."""
    from orchestrator.errors import SpecErrors

    if isinstance(exc, SpecErrors) and len(exc.problems) > 1:
        click.echo(f"Error: {len(exc.problems)} problems:", err=True)
        lines = exc.problems
    else:
        first, *lines = exc.message.splitlines() or [""]
        click.echo(f"Error: {_bounded(first)}", err=True)
    for line in lines[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  {_bounded(line)}", err=True)
    if len(lines) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(lines) - MAX_PROBLEMS_SHOWN} more", err=True)
    if exc.hint:
        click.echo(f"Hint: {_bounded(exc.hint)}", err=True)


def _interrupted(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: list[str] | None = None) -> None:
    """The one exit path: LabError → `Error: ...` on stderr and its exit code; no traceback unless --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="lab", standalone_mode=False)
    except LabError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        show_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug, not a user error: say so briefly; --debug shows where
        if _interrupted(exc):  # Ctrl-C inside a module's import surfaces as that import's failure
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if debug:
            raise
        click.echo(_bounded(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"), err=True)
        sys.exit(1)
    sys.exit(0)


def run() -> None:
    """The program's entry (the `lab` script, `python -m orchestrator`): main(), then the process ends without
    the interpreter's teardown, which frees every loaded module's objects one by one (a tenth of a second once
    the Kubernetes and Docker clients are loaded) only for the process to exit. Exit handlers still run (the
    Kubernetes client removes its temporary certificate files in one), output is flushed, and a thread still
    at work is waited for by the ordinary exit."""
    import atexit
    import os
    import threading

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # between main()'s own handlers (it catches one while a command runs)
        print("Interrupted.", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if not isinstance(code, int):  # sys.exit's conventions: None is success, anything else is printed
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe (`lab status | head`): as the interpreter reports it
        code = code or 120
    os._exit(code)

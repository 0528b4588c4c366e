"""doctor and images: what they report, from the lab spec and the machine's tools."""

import json

from tests.helpers import run_lab


def test_images_lists_runtime_images(workdir, tmp_path, monkeypatch):
    docker = run_lab("images", "inject-mtls", "--runtime", "docker", "-o", "json")
    keys = {i["key"] for i in json.loads(docker.stdout)}
    assert keys == {"client", "echo", "envoy", "haproxy", "etcd", "kubeApiserver", "kubeControllerManager", "kubeScheduler"}
    from orchestrator.providers import process

    monkeypatch.setenv("PATH", str(tmp_path))  # no helm (nor a built one): the chart's images cannot be resolved, and it says so
    monkeypatch.setattr(process, "COMPONENTS_BIN", tmp_path / "not-built")
    kind = run_lab("images", "inject-mtls", "--runtime", "kind", "--set", "images.haproxy=lab.local/haproxy:test")
    assert "kindest/node:v1.35.0@sha256:" in kind.stdout and "lab.local/haproxy:test" in kind.stdout
    assert "envoyproxy/envoy" not in kind.stdout  # the docker runtime's proxy stand-in never runs in kind
    assert "install helm to list the images of chart cilium 1.19.6" in kind.stdout


def test_doctor_reports_missing_kind_with_exit_3(workdir, tmp_path, monkeypatch):
    bin_dir = tmp_path / "emptybin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr("orchestrator.providers.process.COMPONENTS_BIN", bin_dir)  # nor built by `make images`
    result = run_lab("doctor", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 3
    for text in ("docker daemon", "kind", "helm", "MISSING", "install kind v0.31.0"):
        assert text in result.stdout + result.stderr, text


def test_doctor_finds_a_busy_published_port(lab_root):
    import socket

    from orchestrator.catalog import LabEntry
    from orchestrator.diagnostics import port_findings, published_ports
    from orchestrator.pki.manager import PkiManager
    from orchestrator.pki.store import PkiStore
    from orchestrator.render.artifacts import render_lab
    from tests.helpers import load_lab
    from tests.helpers import edit_spec

    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    port = busy.getsockname()[1]
    (lab_root / "mini/templates/compose.yaml.j2").write_text(
        "services:\n  web:\n    image: {{ images.web }}\n    ports: ['127.0.0.1:{{ port }}:443', {published: 9, target: 9}]\n")

    def change(spec):
        spec["stack"] = {"compose": "compose.yaml.j2"}
        spec["values"]["port"] = port

    edit_spec(lab_root / "mini", change)
    lab = load_lab(LabEntry("mini", lab_root / "mini"))
    store = PkiStore(lab_root / "pki", staged=True)
    PkiManager(lab.pki, store).ensure()
    compose = render_lab(lab, store.read).compose()
    try:
        assert published_ports(compose) == sorted([9, port])
        finding = next(f for f in port_findings(compose) if f.check == f"host port {port}")
        assert not finding.ok and finding.blocking and finding.detail == "in use"
    finally:
        busy.close()


def test_helm_is_found_on_path_else_where_make_images_builds_it(tmp_path, monkeypatch):
    """helm is looked for on PATH first, then where `make images` builds it; neither is exit 3 with the fix."""
    import pytest

    from orchestrator.errors import MissingPrerequisite
    from orchestrator.providers import helm, process

    built = tmp_path / "components"
    built.mkdir()
    monkeypatch.setattr(process, "COMPONENTS_BIN", built)
    monkeypatch.setattr(process, "which", lambda name: "/usr/bin/helm" if name == "helm" else None)
    assert helm.HelmCli()._helm() == "/usr/bin/helm"
    monkeypatch.setattr(process, "which", lambda name: None)
    with pytest.raises(MissingPrerequisite) as missing:
        helm.HelmCli()._helm()
    assert missing.value.exit_code == 3 and "`make images`" in missing.value.hint
    from orchestrator.runtimes.registry import _kind_unavailable

    monkeypatch.setattr(process, "which", lambda name: "/usr/bin/kind" if name == "kind" else None)
    assert _kind_unavailable() == "helm not found"
    (built / "helm").write_text("#!/bin/sh\n")
    assert helm.HelmCli()._helm() == str(built / "helm")
    assert _kind_unavailable() is None  # the runtime choice, `lab images` and the kind preflight look where HelmCli does


def test_a_compose_that_exits_0_on_failure_is_reported(tmp_path, monkeypatch):
    """compose's exit status decides whether the stack came up: a wrapper that exits 0 whatever happened is a
    blocking finding; the real behaviour (exit 1 for a file that does not exist) is not. The three probes run
    at once, and a missing docker CLI is reported, not raised."""
    import os

    from orchestrator.diagnostics import docker_findings
    from orchestrator.providers.docker_cli import DockerCli

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    fake = bin_dir / "docker"

    def docker(compose_config_exit: int) -> dict:
        fake.write_text("#!/bin/sh\n"
                        'case "$1 $2" in\n'
                        '  "version --format") echo 28.2.2 ;;\n'
                        '  "compose version") echo 2.40.3 ;;\n'
                        f'  "compose -f") echo "open $3: no such file or directory" >&2; exit {compose_config_exit} ;;\n'
                        "esac\n")
        os.chmod(fake, 0o755)
        return {f.check: f for f in docker_findings(DockerCli())}

    honest = docker(1)
    assert honest["docker daemon"].ok and honest["docker compose v2"].ok and "docker compose exit status" not in honest
    wrapper = docker(0)
    assert not wrapper["docker compose exit status"].ok and "exits 0 even when it fails" in wrapper["docker compose exit status"].detail
    fake.unlink()
    missing = {f.check: f for f in docker_findings(DockerCli())}
    assert not missing["docker daemon"].ok and not missing["docker compose v2"].ok and "docker compose exit status" not in missing


def test_compose_is_probed_only_for_a_lab_with_a_stack(tmp_path, monkeypatch):
    """Nothing runs compose for a lab without a stack: its probes (two CLI starts `up` waits for) are left out,
    and a machine without compose is ready for it. A lab with a stack still needs compose, and is told so."""
    import os

    from orchestrator.diagnostics import docker_findings
    from orchestrator.providers.docker_cli import DockerCli

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", str(bin_dir))
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                                    '[ "$1" = version ] && echo 28.2.2 && exit 0\n'
                                    "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1\n")
    os.chmod(bin_dir / "docker", 0o755)
    without = docker_findings(DockerCli(), stack=False)
    assert [(f.check, f.ok) for f in without] == [("docker daemon", True)]
    assert calls.read_text().splitlines() == ["version --format {{.Server.Version}}"]
    calls.unlink()
    needing = {f.check: f for f in docker_findings(DockerCli(), stack=True)}
    assert not needing["docker compose v2"].ok and needing["docker compose v2"].blocking
    assert sorted(calls.read_text().splitlines()) == ["compose -f /nonexistent/lab-probe/compose.yaml config --quiet", "compose version --short",
                                                      "version --format {{.Server.Version}}"]


def test_a_lab_has_a_stack_when_it_renders_a_compose_file(tmp_path, monkeypatch):
    """What decides whether compose is a prerequisite: inject-mtls renders its HAProxy stack, k8s-user-certs none."""
    from orchestrator.context import LabContext
    from orchestrator.render.artifacts import render_in_memory
    from orchestrator.runtimes.base import Instance

    monkeypatch.chdir(tmp_path)
    found = {}
    for name in ("inject-mtls", "k8s-user-certs"):
        lab = LabContext(workdir=tmp_path).load(name)
        _store, rendered = render_in_memory(lab, tmp_path / "certs" / name)
        found[name] = Instance(lab.name, lab.instance, lab.owner_labels(), lab.network, tmp_path / name, {}, lab, rendered).has_stack
    assert found == {"inject-mtls": True, "k8s-user-certs": False}


def test_doctor_finds_the_kubectl_that_answers(workdir, tmp_path, monkeypatch):
    """The kubectl probe runs kubectl: the real one is found with its version; one that fails is not."""
    import shutil

    import pytest

    real = shutil.which("kubectl")
    if real is None:
        pytest.skip("no kubectl on this machine to find")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(real)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    found = {f["check"]: f for f in json.loads(run_lab("doctor", "inject-mtls", "--runtime", "kind", "-o", "json").stdout)}
    assert found["kubectl"]["ok"] and found["kubectl"]["detail"].startswith("v1.")
    (bin_dir / "kubectl").unlink()
    (bin_dir / "kubectl").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "kubectl").chmod(0o755)
    found = {f["check"]: f for f in json.loads(run_lab("doctor", "inject-mtls", "--runtime", "kind", "-o", "json").stdout)}
    assert not found["kubectl"]["ok"] and found["kubectl"]["detail"] == "missing"

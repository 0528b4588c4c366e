"""The real kind runtime end to end: `kind create cluster` with real kubelets and containerd, on the node image
`make kind-node` builds offline (lab.local/kind-node, images.local.yaml's kindNode).

LAB_E2E_KIND=1 runs the labs that need no Cilium (kind's own pod network and kube-proxy); .ci/run sets it.
The Cilium labs need Cilium's own images, which this machine cannot have: LAB_E2E_KIND_CILIUM=1 runs them on a
machine with an image registry (.github/workflows/e2e-kind.yml).

Kind's nodes take the first free addresses of the shared kind network, which the docker runtime's labs pin for
their own containers: these tests run alone (engine_wide), after the tier's side-by-side part.
"""

import json
import os
import shutil
import subprocess

import pytest
import yaml

from orchestrator.providers.process import COMPONENTS_BIN
from tests.e2e.conftest import REPO, lab

pytestmark = [pytest.mark.kind, pytest.mark.engine_wide]

if os.environ.get("LAB_E2E_KIND") != "1":
    pytest.skip("real kind end-to-end is opt-in: set LAB_E2E_KIND=1 on a machine with Docker (.ci/run does)", allow_module_level=True)

# kind, helm and kubectl as `make images` builds them, when they are not installed
PATH = f"{os.environ.get('PATH', '')}{os.pathsep}{COMPONENTS_BIN}"
missing = [tool for tool in ("kind", "helm", "kubectl", "docker") if shutil.which(tool, path=PATH) is None]
if missing:
    pytest.fail(f"LAB_E2E_KIND=1 but {', '.join(missing)} not found (make images builds kind, helm and kubectl)", pytrace=False)
ENV = {**os.environ, "PATH": PATH}
CILIUM = os.environ.get("LAB_E2E_KIND_CILIUM") == "1"


def _images_file(tmp_path, official: bool) -> list[str]:
    """The lab's own images on a machine with a registry; else the local ones, the node image among them."""
    if official:
        return []
    images = (REPO / "images.local.yaml").read_text()
    node = yaml.safe_load(images)["images"]["kindNode"]
    if subprocess.run(["docker", "image", "inspect", node], capture_output=True).returncode != 0:
        pytest.fail(f"{node} missing: run `make kind-node` (make test builds it when LAB_E2E_KIND=1)")
    (tmp_path / "images.yaml").write_text(images)
    return ["--images", "images.yaml"]


def _kind_containers(cluster: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cluster}", "--format", "{{.Names}}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def _left_behind(tmp_path, name: str) -> dict[str, list[str]]:
    def names(kind: str, *filters: str) -> list[str]:
        field = "{{.Names}}" if kind == "container" else "{{.Name}}"
        argv = ["docker", kind, "ls", "-a" if kind == "container" else "-q", *(a for f in filters for a in ("--filter", f)), "--format", field]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()

    return {"containers": _kind_containers(name) + names("container", f"label=lab.dev/instance={name}"),
            "networks": names("network", f"label=lab.dev/instance={name}"),
            "volumes": names("volume", f"label=lab.dev/instance={name}"),
            "kubeconfig": [str(p) for p in [tmp_path / ".lab" / name / "kubeconfig"] if p.exists()]}


def _nodes(tmp_path, name: str) -> list[dict]:
    out = subprocess.run(["kubectl", "--kubeconfig", str(tmp_path / ".lab" / name / "kubeconfig"), "get", "nodes", "-o", "json"],
                         capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["items"]


# The labs with the number of checks each passes on kind (as on the docker runtime): users and RBAC; MetalLB's
# own manifests with its speaker. Then, with Cilium's images: Cilium's policies and Hubble; Hubble's TLS.
LABS = [("k8s-user-certs", 8), ("webhook-ca-repair", 12)]
CILIUM_LABS = [("inject-mtls", 6), ("starwars-policy", 10), ("hubble-tls", 10)]


@pytest.mark.parametrize("name, checks", LABS + (CILIUM_LABS if CILIUM else []), ids=[n for n, _ in LABS + (CILIUM_LABS if CILIUM else [])])
def test_lab_on_kind(tmp_path, name, checks):
    images = _images_file(tmp_path, official=CILIUM)
    up = lab(tmp_path, "up", name, "--runtime", "kind", *images, "--junit", "up.xml", timeout=1800, env=ENV)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{checks} passed, 0 failed" in up.stdout
        nodes = _nodes(tmp_path, name)
        assert nodes and all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in nodes)
        assert all(n["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://") for n in nodes)
        assert _kind_containers(name) == [f"{name}-control-plane"]  # kind's own node container, named by kind
        verify = lab(tmp_path, "verify", name, timeout=600, env=ENV)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        if name == "webhook-ca-repair":  # a participant's own commands, by kubectl on real kubelets
            exec_ = lab(tmp_path, "exec", name, "controller", "--", "sh", "-c", "exit 3", env=ENV)
            assert exec_.returncode == 3, exec_.stdout + exec_.stderr  # the command's own status
            logs = lab(tmp_path, "logs", name, "controller", "--tail", "5", env=ENV)
            assert logs.returncode == 0 and '"caller"' in logs.stdout, logs.stdout + logs.stderr  # MetalLB's JSON log lines
        again = lab(tmp_path, "up", name, *images, timeout=1800, env=ENV)  # a second up replays every stage on the same cluster
        assert again.returncode == 0 and f"{checks} passed, 0 failed" in again.stdout, again.stdout + again.stderr
    finally:
        down = lab(tmp_path, "down", name, timeout=600, env=ENV)
    assert down.returncode == 0, down.stderr
    assert _left_behind(tmp_path, name) == {"containers": [], "networks": [], "volumes": [], "kubeconfig": []}
    assert name not in lab(tmp_path, "status", env=ENV).stdout.replace("not up", "")

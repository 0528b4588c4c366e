"""Contract of the kind runtime: the exact calls to kind, helm, docker and the Kubernetes API, and their order.

kind, helm and docker are fake executables on PATH that record their argv; the Kubernetes API is a
recording fake at the KubeApi seam, for the order of calls. Every applied object must be the rendered one.
The same runtime against a real API server (applies, waits, deletion by label, Cilium's CRDs, the real chart
installed by the real helm) is tests/e2e/test_kind_api.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.contract.fakes.pod_answers import HAPROXY
from tests.fakes import FakeCluster
from tests.contract.fakes.star_wars import StarWarsCluster
from tests.helpers import REPO, offline_bundle, run_lab

FAKES = Path(__file__).parent / "fakes" / "fake_tool.py"


@pytest.fixture
def fake_world(tmp_path, monkeypatch, cluster):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kind", "helm", "docker"):
        (bin_dir / tool).write_text(f"#!/bin/sh\nexec {sys.executable} {FAKES} \"$@\"\n")
        os.chmod(bin_dir / tool, 0o755)
        (bin_dir / tool).unlink()
        os.symlink(FAKES, bin_dir / tool)
    state = tmp_path / "fake"
    state.mkdir()
    (state / "images").write_text("lab.local/haproxy:test\nlab.local/client:test\nquay.io/cilium/cilium:v1.19.6\n")
    monkeypatch.setenv("LAB_FAKE_DIR", str(state))
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "built").mkdir()  # never the kind and helm `make images` built: a missing fake is missing
    monkeypatch.setattr("orchestrator.providers.process.COMPONENTS_BIN", tmp_path / "built")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    import orchestrator.providers.kube as kube_module

    monkeypatch.setattr(kube_module, "KubeApi", cluster.client)
    return state, work


@pytest.fixture
def cluster() -> FakeCluster:
    """The Kubernetes API of this test's cluster (every client the runtime makes works on it)."""
    return FakeCluster()


def tool_calls(state: Path) -> list[list[str]]:
    path = state / "calls.jsonl"
    calls = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
    path.write_text("")
    return calls


IMAGES = ("--set", "images.haproxy=lab.local/haproxy:test", "--set", "images.client=lab.local/client:test")


def test_up_makes_the_documented_calls_in_order(fake_world, cluster):
    state, work = fake_world
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 0, result.stdout + result.stderr
    lab_dir = work / ".lab" / "inject-mtls"
    rendered, kubeconfig = lab_dir / "rendered", lab_dir / "kubeconfig"
    # the chart archive pinned by the lab, resolved from the offline bundle and verified into the cache
    chart = str(work.parent / "cache/artifacts/21c43cf53841f9ab0375047d95aa4c64051ea52bbd2c679416e6408f5f1c9179")
    assert Path(chart).read_bytes() == (REPO.parent / "shared/upstream/charts/cilium-1.19.6.tgz").read_bytes()
    calls = tool_calls(state)
    probes = sorted(calls[:3])  # asked at once: their order is not part of the contract
    assert probes == [
        ["docker", "compose", "-f", "/nonexistent/lab-probe/compose.yaml", "config", "--quiet"],  # its exit status can be trusted
        ["docker", "compose", "version", "--short"],
        ["docker", "version", "--format", "{{.Server.Version}}"],
    ]
    assert calls[3:] == [
        ["docker", "info", "--format", "{{.NCPU}} {{.MemTotal}}"],
        ["docker", "info", "--format", "{{.CgroupVersion}}"],  # on cgroup v1, kind's kubelets are told to run there
        ["kind", "version"],
        ["helm", "version", "--short"],
        # the network exists: Docker must let the stack's haproxy have its fixed address there (probed with a local image)
        ["docker", "image", "inspect", "--format", "{{.Id}}", "lab.local/haproxy:test"],
        ["docker", "network", "inspect", "kind", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
        ["docker", "run", "--rm", "--network", "kind", "--ip", HAPROXY, "--label", "lab.dev/probe=static-ip", "--entrypoint", "true",
         "lab.local/haproxy:test"],
        ["docker", "network", "inspect", "kind", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
        ["kind", "get", "clusters"],
        ["kind", "create", "cluster", "--name", "inject-mtls", "--config", str(rendered / "cluster/kind-config.yaml"), "--kubeconfig", str(kubeconfig)],
        # what the chart runs with the lab's values, rendered from the pinned archive (no repository is asked)
        ["helm", "template", "cilium", chart, "--namespace", "kube-system", "--values", str(rendered / "cluster/charts/cilium.values.yaml"),
         "--kube-version", "v1.35.4"],
        # only the pods' images and the chart's go into the nodes: not the node image, not compose's, not the proxy stand-in
        ["docker", "image", "inspect", "--format", "{{.Id}}", "lab.local/client:test"],
        ["kind", "load", "docker-image", "lab.local/client:test", "--name", "inject-mtls"],
        ["docker", "image", "inspect", "--format", "{{.Id}}", "quay.io/cilium/cilium:v1.19.6"],
        ["kind", "load", "docker-image", "quay.io/cilium/cilium:v1.19.6", "--name", "inject-mtls"],
        ["docker", "image", "inspect", "--format", "{{.Id}}", "quay.io/cilium/operator-generic:v1.19.6"],
        ["docker", "image", "inspect", "--format", "{{.Id}}", "quay.io/cilium/cilium-envoy:v1.36.9"],
        ["helm", "upgrade", "--install", "cilium", chart, "--namespace", "kube-system",
         "--values", str(rendered / "cluster/charts/cilium.values.yaml"), "--kubeconfig", str(kubeconfig)],
        ["docker", "network", "inspect", "kind", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
        ["docker", "compose", "-p", "lab-inject-mtls", "-f", str(rendered / "stack/compose.yaml"), "up", "-d", "--wait", "--wait-timeout", "120", "--remove-orphans"],
    ]
    kube = [c for c in cluster.calls if c[0] != "connect"]
    assert kube[:7] == [  # the chart's waits, as the lab's spec declares them
        ("wait-nodes",),
        ("wait", "DaemonSet", "kube-system", "cilium"),
        ("wait", "DaemonSet", "kube-system", "cilium-envoy"),
        ("wait", "Deployment", "kube-system", "cilium-operator"),
        ("wait", "Deployment", "kube-system", "hubble-relay"),
        ("wait", "CustomResourceDefinition", None, "ciliumnetworkpolicies.cilium.io"),
        ("wait", "CustomResourceDefinition", None, "ciliumclusterwideenvoyconfigs.cilium.io"),
    ]
    order = [c for c in kube if c[0] in ("apply", "wait")][6:]
    assert order == [
        ("apply", "Namespace", None, "mtls-inject"),
        ("apply", "Secret", "mtls-inject", "tls-client-cert"),
        ("apply", "Pod", "mtls-inject", "curl"),
        ("wait", "Pod", "mtls-inject", "curl"),
        ("wait", "CustomResourceDefinition", None, "ciliumclusterwideenvoyconfigs.cilium.io"),
        ("apply", "Secret", "cilium-secrets", "tls-client-cert"),
        ("apply", "Secret", "cilium-secrets", "lab-ca"),
        ("apply", "CiliumClusterwideEnvoyConfig", None, "mtls-injection-envoy"),
        ("apply", "CiliumNetworkPolicy", "mtls-inject", "mtls-injection-policy"),
    ]
    # every applied object is exactly the rendered one
    rendered_docs = []
    for path in sorted((rendered / "manifests").rglob("*.yaml"), key=lambda p: (p.parent.name != "client", p.name)):
        rendered_docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert cluster.applied == rendered_docs
    hubble = next(c for c in kube if c[0] == "exec" and c[3][0] == "hubble")
    assert hubble[1:3] == ("kube-system", "cilium-abcde") and hubble[4] == "cilium-agent"
    argv = list(hubble[3])
    since = argv.pop(argv.index("--since") + 1)  # the stage's start: flows of earlier stages never count
    assert since.endswith("Z") and len(since) == len("2026-01-01T00:00:00.000Z")  # hubble's RFC3339Milli
    assert argv == ["hubble", "observe", "--output", "json", "--since", "--from-pod", "mtls-inject/curl",
                    "--to-ip", HAPROXY, "--to-port", "8083", "--type", "trace:to-proxy"]
    curls = [c[3] for c in kube if c[0] == "exec" and c[3][0] == "curl"]
    assert curls[0][-1] == f"https://{HAPROXY}:8083/" and "--cert" in curls[0]
    # the last stage's two GETs run side by side: either order
    assert sorted(c[-1] for c in curls[-2:]) == [f"http://{HAPROXY}:8083/", f"http://{HAPROXY}:8443/"]
    assert all("--cert" not in c for c in curls[-2:])
    assert "6 passed, 0 failed" in result.stdout
    assert f"explore: export KUBECONFIG={kubeconfig}; kubectl -n mtls-inject exec -it curl -- sh" in result.stdout


def test_second_up_converges_on_the_existing_cluster(fake_world, cluster):
    state, work = fake_world
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    tool_calls(state)
    cluster.calls = []
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 0, result.stderr
    calls = tool_calls(state)
    kubeconfig = str(work / ".lab/inject-mtls/kubeconfig")
    assert ["kind", "export", "kubeconfig", "--name", "inject-mtls", "--kubeconfig", kubeconfig] in calls
    assert not any(c[:3] == ["kind", "create", "cluster"] for c in calls)
    assert any(c[:3] == ["helm", "upgrade", "--install"] for c in calls)  # idempotent upgrade
    deletes = [c for c in cluster.calls if c[0] == "delete"]
    assert [d[1] for d in deletes] == ["CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig", "Pod", "Secret", "Namespace"]  # namespaces last
    selector = "app.kubernetes.io/managed-by=lab,lab.dev/lab=inject-mtls,lab.dev/instance=inject-mtls"  # every ownership label
    assert all(d[2] == selector for d in deletes)
    waited = cluster.calls.index(("wait-deleted", ("CiliumNetworkPolicy", "CiliumClusterwideEnvoyConfig", "Pod", "Secret", "Namespace"), selector))
    first_apply = next(i for i, c in enumerate(cluster.calls) if c[0] == "apply")
    assert cluster.calls.index(deletes[-1]) < waited < first_apply


def test_verify_runs_only_the_final_checks(fake_world, cluster):
    state, _ = fake_world
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    tool_calls(state)
    cluster.calls = []
    result = run_lab("verify", "inject-mtls")
    assert result.exit_code == 0, result.stderr
    # the health read of the cluster's nodes, then the checks through the API
    assert tool_calls(state) == [["docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=inject-mtls", "--format", "{{.Names}}\t{{.State}}"]]
    execs = [c[3][0] for c in cluster.calls if c[0] == "exec"]
    assert execs == ["curl", "curl", "hubble"]


def test_a_stopped_node_is_named_before_any_check(fake_world, cluster):
    state, _ = fake_world
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    found = json.loads((state / "containers.json").read_text())
    found["inject-mtls-control-plane"]["__state"] = "exited"  # `docker stop inject-mtls-control-plane`
    (state / "containers.json").write_text(json.dumps(found))
    cluster.calls = []
    result = run_lab("verify", "inject-mtls")
    assert result.exit_code == 1
    assert "kind node inject-mtls-control-plane is exited; `lab up inject-mtls` starts it again" in result.stderr
    assert not [c for c in cluster.calls if c[0] == "exec"]  # no check ran against a stopped node
    status = run_lab("status")  # health, not only the record: the part that is down and what heals it
    assert status.exit_code == 0 and "1 part(s) down" in status.stdout
    assert "inject-mtls: kind node inject-mtls-control-plane is exited; `lab up inject-mtls` starts it again" in status.stdout
    listed = json.loads(run_lab("status", "-o", "json").stdout)[0]
    assert listed["healthy"] is False and listed["health"] == [
        "kind node inject-mtls-control-plane is exited; `lab up inject-mtls` starts it again (or `docker start inject-mtls-control-plane`)"]


def test_down_removes_stack_and_cluster(fake_world):
    state, work = fake_world
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    tool_calls(state)
    result = run_lab("down", "inject-mtls")
    assert result.exit_code == 0, result.stderr
    kubeconfig = str(work / ".lab/inject-mtls/kubeconfig")
    assert tool_calls(state) == [
        # the project's containers proven this instance's before compose removes the project by its name
        ["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=lab-inject-mtls", "--format",
         '{{.Names}}\t{{.Label "app.kubernetes.io/managed-by"}}\t{{.Label "lab.dev/lab"}}\t{{.Label "lab.dev/instance"}}'],
        ["docker", "compose", "-p", "lab-inject-mtls", "-f", str(work / ".lab/inject-mtls/rendered/stack/compose.yaml"), "down", "-v", "--remove-orphans", "--timeout", "2"],
        ["kind", "get", "clusters"],
        ["kind", "delete", "cluster", "--name", "inject-mtls", "--kubeconfig", kubeconfig],
    ]
    again = run_lab("down", "inject-mtls")
    assert again.exit_code == 0
    assert ["kind", "delete", "cluster", "--name", "inject-mtls", "--kubeconfig", kubeconfig] not in tool_calls(state)


def test_failed_wait_reports_collects_and_tears_down_on_request(fake_world, cluster):
    state, work = fake_world
    cluster.fail_wait = "curl"
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES, "--junit", "r.xml", "--down-on-failure")
    assert result.exit_code == 1
    assert "timed out after 180s waiting for Pod mtls-inject/curl: a Pod is Ready (last seen: Ready=False, phase Pending)" in result.stderr
    logs = list((work / ".lab/logs/inject-mtls").iterdir())
    assert logs and (logs[0] / "cilium-abcde-redirects.txt").is_file() and (logs[0] / "pod-mtls-inject-curl.log").is_file()
    assert ("logs", "kube-system", "cilium-abcde", "cilium-agent") in cluster.calls
    import xml.etree.ElementTree as ET

    failure = ET.parse(work / "r.xml").getroot().find("testsuite/testcase[@name='wait client-ready']/failure")
    assert "timed out after 180s waiting for Pod mtls-inject/curl" in failure.get("message")
    assert f"logs: {logs[0]}" in failure.text
    assert ["kind", "delete", "cluster", "--name", "inject-mtls", "--kubeconfig", str(work / ".lab/inject-mtls/kubeconfig")] in tool_calls(state)
    assert not (work / ".lab/inject-mtls").exists()


def test_a_failed_lab_step_leaves_the_lab_up_to_look_at(fake_world, cluster):
    """Without --down-on-failure (a person at a workshop), a failed wait of the lab's own steps keeps the cluster:
    the record says failed, the message says how to look and how to remove it; `down` then removes it."""
    state, work = fake_world
    cluster.fail_wait = "curl"
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 1
    told = result.stdout + result.stderr
    assert "the lab stays up to look at: `lab steps inject-mtls`" in told and "`lab down inject-mtls` removes it" in told
    assert not any(c[:2] == ["kind", "delete"] for c in tool_calls(state))
    assert json.loads((work / ".lab/inject-mtls/state.json").read_text())["phase"] == "failed"
    steps = run_lab("steps", "inject-mtls", "-o", "json")
    assert steps.exit_code == 0, steps.stderr
    assert [(s["stage"], s["status"]) for s in json.loads(steps.stdout)["stages"]] == [("direct", "failed"), ("inject", "to do")]
    assert run_lab("down", "inject-mtls").exit_code == 0
    assert ["kind", "delete", "cluster", "--name", "inject-mtls", "--kubeconfig", str(work / ".lab/inject-mtls/kubeconfig")] in tool_calls(state)


def test_sideload_falls_back_to_an_image_archive(fake_world, monkeypatch):
    state, _ = fake_world
    monkeypatch.setenv("LAB_FAKE_KIND_LOAD_FAILS", "1")
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    calls = tool_calls(state)
    save = next(c for c in calls if c[:2] == ["docker", "save"])
    assert save[2:4] == ["--platform", "linux/amd64"] and save[-1] == "lab.local/client:test"
    assert ["kind", "load", "image-archive", save[5], "--name", "inject-mtls"] in calls


def test_missing_kind_exits_3_with_the_fix(fake_world, monkeypatch):
    state, _ = fake_world
    (Path(os.environ["PATH"].split(":")[0]) / "kind").unlink()
    result = run_lab("up", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == "Error: this machine is not ready for the kind runtime: kind: missing"
    assert result.stderr.splitlines()[1] == "Hint: install kind v0.31.0 (details: `lab doctor inject-mtls --runtime kind`)"
    assert not any(c[:2] == ["kind", "create"] for c in tool_calls(state))


def test_images_are_those_the_rendered_chart_runs(fake_world):
    state, _ = fake_world
    result = run_lab("images", "inject-mtls", "--runtime", "kind", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    chart = [i["image"] for i in rows if i["key"] == "chart:cilium"]
    assert chart == ["quay.io/cilium/cilium:v1.19.6", "quay.io/cilium/operator-generic:v1.19.6", "quay.io/cilium/cilium-envoy:v1.36.9"]
    assert next(i["image"] for i in rows if i["key"] == "kindNode").startswith("kindest/node:v1.35.0@sha256:")
    template = next(c for c in tool_calls(state) if c[:2] == ["helm", "template"])
    assert template[2] == "cilium" and template[3].endswith("/artifacts/21c43cf53841f9ab0375047d95aa4c64051ea52bbd2c679416e6408f5f1c9179")


def test_existing_kind_network_with_another_subnet_fails_before_creating_anything(fake_world):
    state, _ = fake_world
    (state / "network").write_text("172.19.0.0/16 fc00:f853:ccd:e793::/64")
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 3
    assert "network kind: exists with 172.19.0.0/16, fc00:f853:ccd:e793::/64; 172.18.255.249 is outside it" in result.stderr
    assert "--set network.subnet=172.19.0.0/16" in result.stderr
    assert not any(c[:2] == ["kind", "create"] for c in tool_calls(state))


def test_an_instance_stays_on_its_runtime(fake_world):
    state, _ = fake_world
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    result = run_lab("up", "inject-mtls", "--runtime", "docker", *IMAGES)
    assert result.exit_code == 2
    assert "instance inject-mtls exists on the kind runtime; `lab down inject-mtls` first, or use --instance" in result.stderr


def test_labs_are_data_two_pods_two_charts_checks_from_each_pod(fake_world, monkeypatch, cluster):
    """The runtime knows no lab: the fixture's second chart, its own waits and checks from two pods come from its spec."""
    from tests.helpers import FIXTURE_LABS

    state, work = fake_world
    monkeypatch.setenv("LAB_PATH", str(FIXTURE_LABS))
    result = run_lab("up", "two-pods", "--runtime", "kind")
    assert result.exit_code == 0, result.stdout + result.stderr
    rendered = work / ".lab/two-pods/rendered"
    helm = [c for c in tool_calls(state) if c[:2] == ["helm", "upgrade"]]
    assert [c[3:5] for c in helm] == [["cni", "cilium"], ["metrics", "oci://registry.example/charts/metrics"]]
    assert helm[1][helm[1].index("--values") + 1] == str(rendered / "cluster/charts/metrics.values.yaml")
    assert "--repo" not in helm[1]
    kube = [c for c in cluster.calls if c[0] in ("wait", "wait-nodes", "exec")]
    assert kube[:6] == [
        ("wait-nodes",),
        ("wait", "DaemonSet", "kube-system", "cilium"),
        ("wait", "Deployment", "monitoring", "metrics-server"),
        ("wait", "APIService", None, "v1beta1.metrics.k8s.io"),
        ("wait", "Pod", "two", "alpha"),
        ("wait", "Pod", "two", "beta"),
    ]
    execs = sorted(kube[6:], key=lambda c: c[2])  # the two GETs run side by side: either order
    assert [c[:3] + c[4:] for c in execs] == [("exec", "two", "alpha", None), ("exec", "two", "beta", None)]
    assert execs[0][3][-1] == "http://beta.two:8080/" and execs[1][3][-1] == "http://alpha.two:8080/"


def test_down_works_from_the_record_after_the_lab_folder_is_gone(fake_world, tmp_path, monkeypatch):
    import shutil

    from tests.helpers import FIXTURE_LABS

    state, work = fake_world
    labs = tmp_path / "labs"
    shutil.copytree(FIXTURE_LABS / "two-pods", labs / "two-pods")
    monkeypatch.setenv("LAB_PATH", str(labs))
    assert run_lab("up", "two-pods", "--runtime", "kind").exit_code == 0
    tool_calls(state)
    shutil.rmtree(labs / "two-pods")
    status = run_lab("status")
    assert status.exit_code == 0 and "two-pods" in status.stdout and "running" in status.stdout
    result = run_lab("down", "two-pods")
    assert result.exit_code == 0, result.stderr
    assert ["kind", "delete", "cluster", "--name", "two-pods", "--kubeconfig", str(work / ".lab/two-pods/kubeconfig")] in tool_calls(state)
    assert not (work / ".lab/two-pods").exists()


def test_the_kind_network_is_made_with_the_lab_subnet_before_kind_makes_one_without(fake_world):
    """kind v0.31 creates its network with no IPv4 subnet of the user's, where Docker refuses the stack's fixed
    address (the fake refuses it as Docker does); lab creates the network first, kind reuses it, down removes it."""
    state, work = fake_world
    (state / "network-state").write_text("absent")
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 0, result.stdout + result.stderr
    calls = tool_calls(state)
    create = calls.index(["docker", "network", "create", "--driver", "bridge", "--subnet", "172.18.0.0/16", "--gateway", "172.18.0.1",
                          "--label", "app.kubernetes.io/managed-by=lab", "--label", "lab.dev/instance=inject-mtls",
                          "--label", "lab.dev/lab=inject-mtls", "kind"])
    assert create < next(i for i, c in enumerate(calls) if c[:3] == ["kind", "create", "cluster"])
    assert run_lab("down", "inject-mtls").exit_code == 0
    assert ["docker", "network", "rm", "kind"] in tool_calls(state)


def test_without_the_lab_network_kind_would_break_the_stack(fake_world):
    """What the fix prevents, shown with the same fakes: kind's own network refuses the fixed address."""
    state, _ = fake_world
    (state / "network-state").write_text("auto")
    result = run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES)
    assert result.exit_code == 3, result.stdout + result.stderr  # found at preflight, before anything is made
    assert "network kind: exists without a configured IPv4 subnet: Docker refuses the stack's fixed address" in result.stderr
    assert "docker network rm kind" in result.stderr
    assert not any(c[:2] == ["kind", "create"] for c in tool_calls(state))


def test_an_upgrade_step_upgrades_the_release_with_its_values_over_the_chart_s(fake_world, cluster):
    """hubble-tls: the chart installed with its values, then each upgrade step as `helm upgrade` with the chart's
    values and the step's over them (helm merges later files over earlier), each followed by the chart's waits;
    the kind-only client pod is applied here; cert-manager's Certificates are the chart's to make, not the lab's."""
    state, work = fake_world
    result = run_lab("up", "hubble-tls", "--runtime", "kind", "--no-verify")
    assert result.exit_code == 0, result.stdout + result.stderr
    charts = work / ".lab/hubble-tls/rendered/cluster/charts"
    upgrades = [c for c in tool_calls(state) if c[:3] == ["helm", "upgrade", "--install"]]
    assert [[c[i + 1] for i, a in enumerate(c) if a == "--values"] for c in upgrades] == [
        [str(charts / "cilium.values.yaml")],
        [str(charts / "cilium.values.yaml"), str(charts / "cilium.cilium-on-cert-manager.values.yaml")],
        [str(charts / "cilium.values.yaml"), str(charts / "cilium.wrong-issuer.values.yaml")],
        [str(charts / "cilium.values.yaml"), str(charts / "cilium.repair.values.yaml")],
    ]
    issuer = lambda name: yaml.safe_load((charts / name).read_text())["hubble"]["tls"]["auto"]["certManagerIssuerRef"]["name"]
    assert [issuer(f"cilium.{step}.values.yaml") for step in ("cilium-on-cert-manager", "wrong-issuer", "repair")] == [
        "my-ca-issuer", "selfsigned-cluster-issuer", "my-ca-issuer"]
    calls = cluster.calls
    after_upgrade = calls.index(("wait", "Certificate", "kube-system", "hubble-server-certs"))
    assert calls[after_upgrade - 3:after_upgrade] == [("wait", "DaemonSet", "kube-system", "cilium"),
                                                      ("wait", "Deployment", "kube-system", "cilium-operator"),
                                                      ("wait", "Deployment", "kube-system", "hubble-relay")]
    assert ("apply", "Pod", "kube-system", "hubble-client") in calls
    assert not [d for d in cluster.applied if d["kind"] == "Certificate" and d["metadata"]["namespace"] == "kube-system"]


def _since(argv) -> float:
    from tests.contract.fakes.star_wars import _parse_since

    return _parse_since(argv[argv.index("--since") + 1])


def test_star_wars_on_kind_applies_the_published_demo_and_asks_hubble_from_when_each_stage_began(fake_world, cluster):
    """starwars-policy: the demo and both policies sent exactly as published (no emulation on kind), every check
    answered by a cluster that enforces what was applied, and Hubble asked in the agent on the ship's node for the
    flows since the policy's stage began (`--since`), so the drops of an earlier stage never count."""
    state, work = fake_world
    ships = cluster.pods_answer = StarWarsCluster(cluster.applied)
    result = run_lab("up", "starwars-policy", "--runtime", "kind", "-o", "json")
    assert result.exit_code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert len(checks) == 10 and all(c["status"] == "passed" for c in checks.values()), checks

    examples = offline_bundle() / "cilium-examples"
    published = [d for name in ("http-sw-app.yaml", "sw_l3_l4_policy.yaml", "sw_l3_l4_l7_policy.yaml")
                 for d in yaml.safe_load_all((examples / name).read_text()) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in cluster.applied] == [(d["kind"], d["metadata"]["name"]) for d in published]
    for sent, served in zip(cluster.applied, published):
        assert sent["spec"] == served["spec"] and sent["metadata"]["labels"]["lab.dev/instance"] == "starwars-policy"
    kind_config = yaml.safe_load((work / ".lab/starwars-policy/rendered/cluster/kind-config.yaml").read_text())
    assert [n["role"] for n in kind_config["nodes"]] == ["control-plane", "worker"]
    assert not [c for c in tool_calls(state) if c[:2] == ["docker", "run"] or c[:3] == ["docker", "compose", "-p"]]  # nothing emulated

    observes = [c for c in cluster.calls if c[0] == "exec" and c[3][0] == "hubble"]
    assert [(c[1], c[2], c[4]) for c in observes] == [("kube-system", "cilium-abcde", "cilium-agent")] * 2
    drop, l7 = (list(c[3]) for c in observes)
    assert drop[6:] == ["--from-pod", "default/xwing", "--to-label", "class=deathstar", "--verdict", "DROPPED"]
    assert l7[6:] == ["--from-pod", "default/tiefighter", "--to-label", "class=deathstar", "--type", "l7", "--verdict", "DROPPED",
                      "--http-method", "PUT", "--http-path", "/v1/exhaust-port"]
    policy_applied = [t for d, t in zip(cluster.applied, cluster.applied_at) if d["kind"] == "CiliumNetworkPolicy"]
    for applied_at, argv in zip(policy_applied, (drop, l7)):  # each stage began just before its policy was applied
        assert 0 <= applied_at - _since(argv) < 0.5, (applied_at, argv)
    earlier = [f for f in ships.flows if f["source"] == "default/tiefighter" and f["time"] < _since(l7)]
    assert earlier and not [f for f in earlier if f["time"] >= policy_applied[0] and f["type"] == "L7"]


def test_star_wars_on_kind_verify_fails_once_cilium_enforces_nothing(fake_world, cluster):
    """The same cluster after Cilium stopped enforcing: every final check that proves a drop or a denial fails, with
    what curl and Hubble saw; the landing still passes."""
    ships = cluster.pods_answer = StarWarsCluster(cluster.applied)
    assert run_lab("up", "starwars-policy", "--runtime", "kind").exit_code == 0
    ships.enforce = False
    result = run_lab("verify", "starwars-policy", "-o", "json")
    assert result.exit_code == 1, result.stdout[-3000:] + result.stderr[-3000:]
    status = {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert status == {"tiefighter-lands-through-the-proxy": "passed", "exhaust-port-denied": "failed",
                      "hubble-sees-the-l7-drop": "failed", "xwing-still-dropped": "failed"}


def test_webhook_ca_repair_on_kind_installs_the_whole_release_and_sends_the_seed_s_repairs(fake_world, cluster):
    """webhook-ca-repair: MetalLB's release manifest applied whole on kind (the speaker too: only the docker runtime
    leaves it out), then the break and the repair as the exact API calls: JSON patches of every webhook's caBundle,
    the Secret's keys, `rollout restart`s; the repaired certificate is issued from the CA the Secret holds."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from orchestrator.pki.issue import Validity, build_name, issue_root, new_key

    state, work = fake_world
    rotator_key = new_key("rsa-2048")  # what MetalLB's certificate rotator put in its Secret
    rotator_ca = issue_root(rotator_key, build_name("metallb-ca", (("O", "metallb"),)), Validity.days_from(dt.datetime.now(dt.timezone.utc), 3650))
    rotator_ca_pem = rotator_ca.public_bytes(serialization.Encoding.PEM)
    cluster.secrets[("metallb-system", "metallb-webhook-cert")] = {
        "ca.crt": rotator_ca_pem,
        "ca.key": rotator_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())}
    result = run_lab("up", "webhook-ca-repair", "--runtime", "kind", "--no-verify")
    assert result.exit_code == 0, result.stdout[-3000:] + result.stderr[-3000:]

    kind_config = yaml.safe_load((work / ".lab/webhook-ca-repair/rendered/cluster/kind-config.yaml").read_text())
    assert [n["role"] for n in kind_config["nodes"]] == ["control-plane"]
    release = [d for d in yaml.safe_load_all((offline_bundle() / "metallb-v0.15.3/metallb-native.yaml").read_text()) if d]
    applied = [(d["kind"], d["metadata"]["name"]) for d in cluster.applied]
    assert applied[:len(release)] == [(d["kind"], d["metadata"]["name"]) for d in release] and ("DaemonSet", "speaker") in applied
    assert applied[len(release):] == [("IPAddressPool", "lab-pool"), ("L2Advertisement", "lab-pool"), ("Namespace", "lb-demo"), ("Service", "web-lb")]

    b64 = lambda data: base64.b64encode(data).decode()
    certs = work / "certs/webhook-ca-repair"
    caBundles = lambda ca: [{"op": "replace", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": b64(ca)} for i in range(6)]
    patches = [(c[1], c[2], c[3], c[4], json.loads(c[5])) for c in cluster.calls if c[0] == "patch"]
    json_patch, merge, strategic = "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"
    vwc, deployment = ("ValidatingWebhookConfiguration", None, "metallb-webhook-configuration"), ("Deployment", "metallb-system", "controller")
    secret = ("Secret", "metallb-system", "metallb-webhook-cert")
    assert [p[:4] for p in patches] == [(*vwc, json_patch), (*deployment, json_patch), (*secret, merge), (*deployment, strategic),
                                        (*secret, merge), (*vwc, json_patch),
                                        ("CustomResourceDefinition", None, "bgppeers.metallb.io", json_patch), (*deployment, strategic)]
    assert patches[0][4] == caBundles((certs / "ca.crt").read_bytes())  # the break: a CA MetalLB never saw
    assert patches[1][4] == [{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--disable-cert-rotation"}]
    assert patches[2][4] == {"data": {"tls.crt": b64((certs / "foreign-webhook.crt").read_bytes()),
                                      "tls.key": b64((certs / "foreign-webhook.key").read_bytes())}}
    assert list(patches[3][4]["spec"]["template"]["metadata"]["annotations"]) == ["kubectl.kubernetes.io/restartedAt"]
    repaired = x509.load_pem_x509_certificate(base64.b64decode(patches[4][4]["data"]["tls.crt"]))
    repaired.verify_directly_issued_by(rotator_ca)  # from the Secret's own CA, as the seed's openssl x509 -req -CA
    assert repaired.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "metallb-webhook-service.metallb-system.svc"]
    assert repaired.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    repaired_key = serialization.load_pem_private_key(base64.b64decode(patches[4][4]["data"]["tls.key"]), None)
    assert repaired_key.public_key().public_numbers() == repaired.public_key().public_numbers()
    assert patches[5][4] == caBundles(rotator_ca_pem)
    assert patches[6][4] == [{"op": "replace", "path": "/spec/conversion/webhook/clientConfig/caBundle", "value": b64(rotator_ca_pem)}]
    restarts = [i for i, c in enumerate(cluster.calls) if c[0] == "patch" and c[4] == strategic]
    assert all(cluster.calls[i + 1] == ("wait", "Deployment", "metallb-system", "controller") for i in restarts)
    assert not [c for c in tool_calls(state) if "PRIVATE KEY" in " ".join(c)]  # keys travel in API bodies, never on a command line


def test_a_cgroup_v1_engine_gets_kubelets_told_to_run_there_and_a_warning(fake_world, monkeypatch):
    """Kubernetes 1.35's kubelet refuses cgroup v1 by default: on such an engine kind is handed the rendered config
    with a KubeletConfiguration patch (failCgroupV1: false), and `lab doctor` warns; on cgroup v2 the rendered config
    goes to kind as it is and nothing is said."""
    state, work = fake_world
    monkeypatch.setenv("LAB_FAKE_CGROUP_VERSION", "1")
    doctor = run_lab("doctor", "inject-mtls", "--runtime", "kind")
    assert any(line.split()[:3] == ["cgroup", "version", "warning"] for line in doctor.stdout.splitlines()), doctor.stdout
    assert "failCgroupV1:" in doctor.stdout
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    given = yaml.safe_load((state / "kind-config.yaml").read_text())
    rendered = yaml.safe_load((work / ".lab/inject-mtls/rendered/cluster/kind-config.yaml").read_text())
    assert given == {**rendered, "kubeadmConfigPatches": ["kind: KubeletConfiguration\nfailCgroupV1: false\n"]}
    create = next(c for c in tool_calls(state) if c[:3] == ["kind", "create", "cluster"])
    assert create[create.index("--config") + 1] == str(work / ".lab/inject-mtls/kind-config.yaml")
    assert run_lab("down", "inject-mtls").exit_code == 0

    monkeypatch.setenv("LAB_FAKE_CGROUP_VERSION", "2")
    assert "cgroup version" not in run_lab("doctor", "inject-mtls", "--runtime", "kind").stdout
    assert run_lab("up", "inject-mtls", "--runtime", "kind", *IMAGES).exit_code == 0
    assert yaml.safe_load((state / "kind-config.yaml").read_text()) == rendered

"""The parts webhook-ca-repair is made of, each able to fail: upstream manifests in a lab (images mapped, labels
added, objects left out per runtime), the patch/secret/restart step forms, the wildcard JSON pointer, and the
ca-bundle and load-balancer checks' own rules. The whole lab runs for real in tests/e2e/test_webhook_ca_repair.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from orchestrator.catalog import LabEntry
from orchestrator.checks.ca_bundle import ca_bundles
from orchestrator.checks.load_balancer import LoadBalancerCheck, in_ranges
from orchestrator.kube.edits import expand, patch_by_hand, restart_by_hand, secret_by_hand
from orchestrator.errors import BadInput, MissingPrerequisite, SpecErrors
from orchestrator.render.artifacts import render_lab
from tests.helpers import load_lab
from tests.helpers import edit_spec

REPO = Path(__file__).resolve().parents[3]
LAB = "webhook-ca-repair"


@pytest.fixture
def lab_dir(tmp_path) -> Path:
    dest = tmp_path / "labs" / LAB
    shutil.copytree(REPO / "labs" / LAB, dest)
    return dest


def load(lab_dir: Path, **kwargs):
    return load_lab(LabEntry(LAB, lab_dir), **kwargs)


def render(lab):
    return render_lab(lab, lambda name: b"-----BEGIN CERTIFICATE-----\n" if name.endswith(".crt") else None)


def step_index(spec: dict, name: str) -> int:
    return next(i for i, s in enumerate(spec["steps"]) if s["name"] == name)


def test_upstream_manifest_is_applied_as_published_with_the_labs_images_and_labels(lab_dir):
    lab = load(lab_dir, sets=["images.metallbController=lab.local/metallb-controller:test"])
    rendered = render(lab)
    docs = rendered.docs("metallb")
    assert len(docs) == 26  # every object of metallb-native.yaml v0.15.3
    assert all(d["metadata"]["labels"]["lab.dev/instance"] == LAB for d in docs)
    controller = next(d for d in docs if d["kind"] == "Deployment")
    assert controller["spec"]["template"]["spec"]["containers"][0]["image"] == "lab.local/metallb-controller:test"
    assert controller["spec"]["selector"]["matchLabels"] == {"app": "metallb", "component": "controller"}  # selectors untouched
    speaker = next(d for d in docs if d["kind"] == "DaemonSet")
    assert speaker["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/metallb/speaker:v0.15.3"
    # The speaker is left out on the docker runtime only.
    assert speaker not in lab.applied_docs("metallb", docs, "docker") and len(lab.applied_docs("metallb", docs, "docker")) == 25
    assert lab.applied_docs("metallb", docs, "kind") == docs
    assert [(o.kind, o.name, o.runtimes) for _group, o in lab.omissions("docker")] == [("DaemonSet", "speaker", ("docker",))]
    assert lab.omissions("kind") == []


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["manifests"]["metallb"][0].update(artifact="metallb-main"), "manifests.metallb.0.artifact: 'metallb-main' is not one of the lab's artifacts"),
    (lambda s: s["manifests"]["metallb"][0]["images"].update(frr="quay.io/frrouting/frr:9"), "manifests.metallb.0.images.frr: 'frr' is not one of the lab's images"),
    (lambda s: s["manifests"]["metallb"][0]["omit"][0].update(runtimes=["podman"]), "manifests.metallb.0.omit.0.runtimes: 'podman' is not one of the lab's runtimes"),
    (lambda s: s["manifests"]["metallb"][0]["omit"][0].pop("why"), "manifests.metallb.0.omit.0: 'why' is a required property"),
    (lambda s: s["steps"][step_index(s, "break-ca-bundles")]["patch"][0]["ops"][0].pop("valueFrom"), "steps.8.patch.0.ops.0"),
    (lambda s: s["steps"][step_index(s, "break-ca-bundles")]["patch"][0]["ops"][0].update(valueFrom={"pki": "stranger.crt"}),
     "steps.8.patch.0.ops.0.valueFrom.pki: 'stranger.crt' is not a file the lab's PKI issues"),
    (lambda s: s["steps"][step_index(s, "break-ca-bundles")]["patch"][0]["ops"][0].update(op="move"), "steps.8.patch.0.ops.0.op"),
    (lambda s: s["steps"][step_index(s, "break-serving-cert")]["secret"]["set"].update({"ca.key": {"pki": "ca.key"}}),
     "steps.12.secret.set.ca.key.pki: 'ca.key' is not a file the lab's PKI issues"),
    (lambda s: s["steps"][step_index(s, "repair-serving-cert")]["secret"].pop("issue"), "steps.17.secret: "),
    (lambda s: s["steps"][step_index(s, "serve-foreign-cert")]["restart"].update(kind="Pod"), "steps.13.restart.kind: must be one of Deployment, DaemonSet, StatefulSet"),
    (lambda s: s["steps"][step_index(s, "address-assigned")]["check"]["expect"].update(inRange=["172.18.255.9-172.18.255.1"]),
     "steps.7.check.expect.inRange.0: 172.18.255.9-172.18.255.1: the first address must not be after the last"),
    (lambda s: s["values"]["pool"].update(addresses="{{ network.subnet | subnet_host(-5) }}-{{ network.subnet | subnet_host(-9) }}"),
     "values.pool.addresses: '172.18.255.250-172.18.255.246' is not a 'network-range'"),
    (lambda s: s["steps"][step_index(s, "pool-refused")]["check"]["expect"].update(admitted=True),
     "steps.15.check.expect: message and status describe a refusal"),
])
def test_bad_forms_are_named_by_file_and_field(lab_dir, change, expected):
    edit_spec(lab_dir, change)
    with pytest.raises(SpecErrors) as err:
        load(lab_dir)
    assert any(p.startswith(f"{lab_dir / 'lab.yaml'}: ") and expected in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["manifests"]["metallb"][0]["images"].update(metallbController="quay.io/metallb/controller:v0.14.0"),
     "manifests.metallb.0.images.metallbController: no container of metallb-native runs quay.io/metallb/controller:v0.14.0"),
    (lambda s: s["manifests"]["metallb"][0]["omit"][0].update(name="speakers"), "manifests.metallb.0.omit.0: metallb-native has no DaemonSet speakers"),
])
def test_upstream_manifest_mismatches_are_refused_before_anything_is_written(lab_dir, change, expected):
    edit_spec(lab_dir, change)
    with pytest.raises(BadInput) as err:
        render(load(lab_dir))
    assert expected in err.value.message


def test_an_artifact_whose_bytes_differ_from_its_digest_is_refused(lab_dir, tmp_path, monkeypatch):
    """A bundle that lists the pinned digest for a changed file: refused (exit 3), naming what was found."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    pinned = yaml.safe_load((lab_dir / "lab.yaml").read_text())["artifacts"]["metallb-native"]["sha256"]
    (bundle / "metallb-native.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: metallb-system}\n")
    (bundle / "SHA256SUMS").write_text(f"{pinned}  ./metallb-native.yaml\n")
    monkeypatch.setenv("LAB_BUNDLE", str(bundle))
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MissingPrerequisite) as err:
        render(load(lab_dir))
    assert f"artifact metallb-native from {bundle / 'metallb-native.yaml'} has sha256" in err.value.message and f"not the pinned {pinned}" in err.value.message


def test_wildcard_pointer_expands_over_the_live_object():
    config = {"webhooks": [{"name": f"w{i}", "clientConfig": {"caBundle": "x"}} for i in range(3)]}
    assert expand(config, "/webhooks/*/clientConfig/caBundle") == [f"/webhooks/{i}/clientConfig/caBundle" for i in range(3)]
    assert expand(config, "/webhooks/1/clientConfig/caBundle") == ["/webhooks/1/clientConfig/caBundle"]
    assert expand({"webhooks": []}, "/webhooks/*/clientConfig/caBundle") == []
    assert expand({"spec": {"template": {}}}, "/spec/*/args/-") == ["/spec/template/args/-"]


def test_ca_bundles_are_found_where_they_sit():
    config = {"webhooks": [{"name": "a.metallb.io", "clientConfig": {"caBundle": "QQ=="}}, {"name": "b", "clientConfig": {}}]}
    assert ca_bundles(config) == [("webhooks[0].clientConfig.caBundle", "QQ==")]
    crd = {"conversion": {"webhook": {"clientConfig": {"caBundle": None, "service": {"name": "s"}}}}}
    assert ca_bundles(crd) == [("conversion.webhook.clientConfig.caBundle", "")]


def test_address_ranges():
    assert in_ranges("172.18.255.200", ["172.18.255.200-172.18.255.209"])
    assert not in_ranges("172.18.255.210", ["172.18.255.200-172.18.255.209"])
    assert in_ranges("10.0.0.7", ["172.18.255.200-172.18.255.209", "10.0.0.0/29"]) and not in_ranges("10.0.0.8", ["10.0.0.0/29"])
    assert LoadBalancerCheck().problems({}, {"inRange": ["10.0.0.0/33"]}) == [("expect.inRange.0", "10.0.0.0/33: not an address range (a-b) or a CIDR")]


def test_verify_runs_the_checks_after_the_last_change(lab_dir):
    lab = load(lab_dir)
    assert [s.name for s in lab.stages[-1].checks] == ["serving-cert-repaired", "ca-bundles-repaired", "pool-admitted-again", "address-kept"]


def test_each_edit_says_what_a_participant_would_type(lab_dir):
    lab = load(lab_dir)
    steps = {s.name: s for s in lab.steps}
    webhooks = {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "metallb-webhook-configuration"},
                "webhooks": [{"clientConfig": {}}, {"clientConfig": {}}]}
    patch = patch_by_hand(steps["repair-ca-bundles"].params, [webhooks])
    assert patch[0].startswith("kubectl patch validatingwebhookconfiguration metallb-webhook-configuration --type json")
    assert "$(kubectl -n metallb-system get secret metallb-webhook-cert -o jsonpath='{.data.ca\\.crt}')" in patch[0]
    # `*` is no JSON pointer: one operation per webhook of the manifest, as the step expands it over the live object
    assert '"path": "/webhooks/0/clientConfig/caBundle"' in patch[0] and '"path": "/webhooks/1/clientConfig/caBundle"' in patch[0]
    assert "*" not in patch[0]
    issued = secret_by_hand(steps["repair-serving-cert"].params)
    assert "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 365" in issued[3]
    assert "subjectAltName=DNS:metallb-webhook-service.metallb-system.svc" in issued[3]
    assert restart_by_hand(steps["serve-foreign-cert"].params) == ["kubectl -n metallb-system rollout restart deployment/controller",
                                                                     "kubectl -n metallb-system rollout status deployment/controller"]
    assert yaml.safe_dump(steps["break-serving-cert"].params)  # plain data, as `lab show --output json` prints it

"""starwars-policy as data: the demo and its policies as published, the lab's images in place of the demo's,
the checks after the L7 policy as what `verify` reruns. It runs for real in tests/e2e/test_starwars_policy.py."""

from __future__ import annotations

from orchestrator.catalog import LabEntry
from orchestrator.render.artifacts import render_lab
from tests.helpers import load_lab
from tests.unit.labs.test_webhook_ca_repair import REPO


def test_the_demo_is_applied_as_published_with_the_labs_images():
    lab = load_lab(LabEntry("starwars-policy", REPO / "labs" / "starwars-policy"),
                   sets=["images.deathstar=lab.local/starwars:test", "images.spaceship=lab.local/client:test"])
    rendered = render_lab(lab, lambda name: None)
    app = rendered.docs("app")
    assert [(d["kind"], d["metadata"]["name"]) for d in app] == [("Service", "deathstar"), ("Deployment", "deathstar"), ("Pod", "tiefighter"),
                                                                  ("Pod", "xwing")]
    assert all("namespace" not in d["metadata"] for d in app)  # the default namespace, as `kubectl apply -f` puts them
    images = [c["image"] for d in app for c in ((d.get("spec") or {}).get("template", {}).get("spec", d.get("spec")) or {}).get("containers", [])]
    assert images == ["lab.local/starwars:test", "lab.local/client:test", "lab.local/client:test"]
    l7 = rendered.docs("l7")[0]
    assert l7["spec"]["ingress"][0]["toPorts"][0]["rules"]["http"] == [{"method": "POST", "path": "/v1/request-landing"}]
    assert [s.name for s in lab.stages[-1].checks] == ["tiefighter-lands-through-the-proxy", "exhaust-port-denied", "hubble-sees-the-l7-drop",
                                                   "xwing-still-dropped"]

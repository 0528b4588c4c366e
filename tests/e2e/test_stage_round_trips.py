"""`reset --to` and `solve` round trips for every lab on the docker runtime: up to a stage that applies objects,
solve to the end, reset to it (what the stage and those after it made is gone, as the API server answers), solve
again, and the last stage's checks pass."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import REPO, labelled, lab, lab_kubectl

NOTHING = {"containers": [], "networks": [], "volumes": []}

# Each lab, and the last of its stages whose steps apply objects on the docker runtime.
ROUND_TRIPS = [
    ("inject-mtls", "inject"),
    ("k8s-user-certs", "rbac"),
    ("webhook-ca-repair", "pool"),
    ("starwars-policy", "l3-l4-policy"),  # l7-policy changes the rule1 this stage makes
    ("hubble-tls", "cert-manager-crds"),
]


def _stages(labdir, name: str) -> dict[str, str]:
    result = lab(labdir, "steps", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}


def _vacuous(labdir, name: str) -> set[str]:
    """Stages with nothing to do on this runtime (kind's only): done from the start."""
    return {s["stage"] for s in json.loads(lab(labdir, "steps", name, "-o", "json").stdout)["stages"] if not s["steps"] and not s["checks"]}


def _made_by(labdir, name: str, stage: str) -> list[str]:
    """The objects the stage's apply steps make, as the API server has them now (`kubectl get -f` of the rendered
    manifests the lab applied)."""
    applies = {s["name"]: s["apply"]["group"] for s in json.loads(lab(labdir, "show", name, "-o", "json").stdout)["steps"] if s.get("apply")}
    stage_steps = next(s for s in json.loads(lab(labdir, "steps", name, "-o", "json").stdout)["stages"] if s["stage"] == stage)["steps"]
    groups = [applies[step] for step in stage_steps if step in applies]
    assert groups, (stage, stage_steps)
    found = []
    for group in groups:
        folder = labdir / ".lab" / name / "rendered" / "manifests" / group
        assert folder.is_dir(), folder
        got = lab_kubectl(labdir, name, "get", "-f", str(folder), "--ignore-not-found", "-o", "name", check=False)
        # A kind whose CRD is not there (yet, or any more) has no object: kubectl says so per object and exits 1.
        unknown = [line for line in got.stderr.splitlines() if line.strip()]
        assert got.returncode == 0 or all("no matches for kind" in line or "ensure CRDs are installed" in line for line in unknown), got.stderr
        found += got.stdout.split()
    return sorted(found)


@pytest.mark.parametrize("name, stage", ROUND_TRIPS)
def test_reset_to_a_stage_then_solve(tmp_path, docker_engine, name, stage):
    (tmp_path / "images.yaml").write_text((REPO / "images.local.yaml").read_text())
    try:
        up = lab(tmp_path, "up", name, "--runtime", "docker", "--images", "images.yaml", "--until", stage, "--down-on-failure", timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        stages = _stages(tmp_path, name)
        order = list(stages)
        before, rest = order[: order.index(stage)], order[order.index(stage):]
        assert stages == {**{s: "done" for s in before}, **{s: "done" if s in _vacuous(tmp_path, name) else "to do" for s in rest}}
        assert _made_by(tmp_path, name, stage) == []

        solved = lab(tmp_path, "solve", name, rest[-1], timeout=900)
        assert solved.returncode == 0, solved.stdout[-3000:] + solved.stderr[-3000:]
        assert set(_stages(tmp_path, name).values()) == {"done"}
        made = _made_by(tmp_path, name, stage)
        assert made

        reset = lab(tmp_path, "reset", name, "--to", stage, timeout=900)
        assert reset.returncode == 0, reset.stdout[-3000:] + reset.stderr[-3000:]
        assert _made_by(tmp_path, name, stage) == []  # gone, as the API server answers
        assert _stages(tmp_path, name) == stages

        again = lab(tmp_path, "solve", name, rest[-1], timeout=900)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert _made_by(tmp_path, name, stage) == made
        checked = lab(tmp_path, "check", name, rest[-1])
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    finally:
        down = lab(tmp_path, "down", name)
    assert down.returncode == 0, down.stderr
    assert labelled(docker_engine, name) == NOTHING

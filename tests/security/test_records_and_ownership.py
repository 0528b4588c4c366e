"""Names and records are validated before they are trusted, and nothing is removed that `lab` did not make and
label: an instance name never leaves .lab/, a record without the full set of ownership labels is refused
(never turned into a filter that matches everything), `down --all` goes past a broken record, and compose
projects, kind clusters and networks that are not the instance's own are left alone."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from orchestrator.errors import LabError, PermanentFailure
from orchestrator.spec.model import INSTANCE_LABEL, LAB_LABEL, OWNER_LABEL
from tests.helpers import fake_calls, files, run_lab

OWNER = {OWNER_LABEL: "lab", LAB_LABEL: "inject-mtls", INSTANCE_LABEL: "good"}


def record(instance: str = "good", runtime: str = "kind", **changes) -> dict:
    data = {"lab": "inject-mtls", "instance": instance, "runtime": runtime, "phase": "up",
            "instance_record": {"lab": "inject-mtls", "instance": instance,
                                "labels": {OWNER_LABEL: "lab", LAB_LABEL: "inject-mtls", INSTANCE_LABEL: instance},
                                "network": {"name": "kind", "subnet": "172.18.0.0/16"}},
            "runtime_state": {"created_cluster": instance}}
    data.update(changes)
    return data


def write_record(work, name: str, data) -> None:
    (work / ".lab" / name).mkdir(parents=True, exist_ok=True)
    (work / ".lab" / name / "state.json").write_text(data if isinstance(data, str) else json.dumps(data))


@pytest.mark.parametrize("name", ["../../x", "../x", "x/../../y", "x\n", "Bad", "logs", "results", "engine", "/etc", "a" * 41, ""])
@pytest.mark.parametrize("command", [["down", "inject-mtls", "--instance"], ["status"], ["verify", "inject-mtls", "--instance"], ["kubeconfig"], ["env"],
                                     ["check", "inject-mtls", "--instance"], ["solve", "inject-mtls", "--instance"], ["steps", "inject-mtls", "--instance"],
                                     ["reset", "inject-mtls", "--to", "client", "--instance"], ["logs", "inject-mtls", "curl", "--instance"],
                                     ["shell", "inject-mtls", "curl", "--instance"]])
def test_an_instance_name_is_validated_whole_at_every_entry(world, tmp_path, name, command):
    _labs, work, fake = world
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "state.json").write_text(json.dumps(record("x")))
    before = files(tmp_path)
    result = run_lab(*command, name)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "use lowercase letters" in result.stderr or "reserved" in result.stderr or "no instance" in result.stderr, result.stderr
    assert files(tmp_path) == before and fake_calls(fake) == []


@pytest.mark.parametrize("name", ["../../x", "x\n", "Bad"])
def test_exec_validates_the_instance_name_before_running_anything(world, name):
    _labs, work, fake = world
    result = run_lab("exec", "inject-mtls", "curl", "--instance", name, "--", "true")
    assert result.exit_code == 2 and ("use lowercase letters" in result.stderr or "no instance" in result.stderr), result.stderr
    assert files(work) == [] and fake_calls(fake) == []


def test_up_refuses_an_instance_name_with_a_trailing_newline(world):
    _labs, work, fake = world
    result = run_lab("up", "inject-mtls", "--instance", "ok\n")
    assert result.exit_code == 2 and "--instance 'ok\\n'" in result.stderr
    assert files(work) == [] and fake_calls(fake) == []


BROKEN = [
    ("a list", "[]", "(top level)"),
    ("empty", "{}", "is a required property"),
    ("not json", "{not json", "not a record lab wrote"),
    ("empty labels", record(instance_record={**record()["instance_record"], "labels": {}}), "instance_record.labels"),
    ("no owner label", record(instance_record={**record()["instance_record"], "labels": {LAB_LABEL: "inject-mtls", INSTANCE_LABEL: "good"}}),
     "instance_record.labels"),
    ("empty instance label", record(instance_record={**record()["instance_record"],
                                                     "labels": {OWNER_LABEL: "lab", LAB_LABEL: "inject-mtls", INSTANCE_LABEL: ""}}),
     "instance_record.labels"),
    ("another instance's labels", record(instance_record={**record()["instance_record"],
                                                          "labels": {OWNER_LABEL: "lab", LAB_LABEL: "inject-mtls", INSTANCE_LABEL: "other"}}),
     "not this instance's own ownership labels"),
    ("another folder's record", record("other"), "lies in the folder of good"),
    ("a missing key", {k: v for k, v in record().items() if k != "instance_record"}, "'instance_record' is a required property"),
    ("a foreign cluster", record(runtime_state={"created_cluster": "someone-elses"}), "runtime_state"),
    ("a foreign container", record(runtime_state={"redirected_pod": "someones-container"}), "runtime_state"),
    ("an unknown runtime field", record(runtime_state={"delete_everything": True}), "runtime_state"),
    ("a stage of a made-up status", record(stages={"client": {"status": "solved"}}), "stages.client.status"),
    ("a stage named as a path", record(stages={"../x": {"status": "done"}}), "stages"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_a_broken_record_is_refused_and_nothing_is_removed(world, case):
    _labs, work, fake = world
    _id, data, expected = case
    write_record(work, "good", data)
    (work / "kind-clusters").write_text("")
    (fake / "clusters").write_text("good")
    for command in (["down", "good"], ["verify", "good"], ["kubeconfig", "good"], ["env", "good"], ["status", "good"], ["check", "good"],
                    ["solve", "good"], ["steps", "good"], ["reset", "good", "--to", "client"], ["logs", "good", "curl"]):
        result = run_lab(*command)
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert "state.json" in result.stderr and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert (work / ".lab/good/state.json").exists()  # the record stays: `lab` acts only on records it can trust
    assert not [c for c in fake_calls(fake) if c[:2] in (["kind", "delete"], ["docker", "rm"]) or "down" in c]
    status = run_lab("status")  # the listing goes on past it
    assert status.exit_code == 0 and "broken record" in status.stdout


@pytest.mark.parametrize("special", ["fifo", "device", "huge"])
def test_a_record_that_is_not_a_regular_file_of_bounded_size_is_refused(world, special):
    _labs, work, _fake = world
    path = work / ".lab/good/state.json"
    path.parent.mkdir(parents=True)
    if special == "fifo":
        os.mkfifo(path)
    elif special == "device":
        os.symlink("/dev/zero", path)
    else:
        path.write_text(" " * (5 * 1024 * 1024))
    result = run_lab("down", "good")
    assert result.exit_code == 2 and "state.json" in result.stderr, result.stderr


def test_a_record_folder_symlinked_out_of_lab_is_refused(world, tmp_path):
    _labs, work, _fake = world
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "state.json").write_text(json.dumps(record("good")))
    (work / ".lab").mkdir()
    os.symlink(elsewhere, work / ".lab/good")
    result = run_lab("down", "good")
    assert result.exit_code == 2 and "is outside" in result.stderr, result.stderr
    assert (elsewhere / "state.json").exists()


def test_down_all_goes_past_a_broken_record_and_reports_it(world):
    _labs, work, fake = world
    write_record(work, "good", record("good"))
    write_record(work, "bad", record("bad", instance_record={**record("bad")["instance_record"], "labels": {}}))
    (fake / "clusters").write_text("good")
    result = run_lab("down", "--all")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "down bad" in result.stdout + result.stderr and "instance_record.labels" in result.stdout + result.stderr
    assert ["kind", "delete", "cluster", "--name", "good", "--kubeconfig", str(work / ".lab/good/kubeconfig")] in fake_calls(fake)
    assert not (work / ".lab/good").exists() and (work / ".lab/bad/state.json").exists()


def test_down_leaves_a_kind_cluster_it_did_not_make(world):
    """A record that says the cluster was reused (or a hand-made one of that name): `down` never deletes it."""
    _labs, work, fake = world
    write_record(work, "good", record("good", runtime_state={}))
    (fake / "clusters").write_text("good")
    result = run_lab("down", "good")
    assert result.exit_code == 0, result.stderr
    assert not [c for c in fake_calls(fake) if c[:2] == ["kind", "delete"]]


def test_up_refuses_a_kind_cluster_of_its_name_it_did_not_make(world):
    _labs, work, fake = world
    (fake / "clusters").write_text("inject-mtls")
    (fake / "network-state").write_text("configured")
    result = run_lab("up", "inject-mtls", "--runtime", "kind")
    assert result.exit_code == 2 and "a kind cluster named inject-mtls exists that this lab instance did not make" in result.stderr
    assert not [c for c in fake_calls(fake) if c[:2] in (["kind", "delete"], ["kind", "create"], ["kind", "export"])]


def test_down_refuses_a_compose_project_holding_a_container_not_its_own(world):
    _labs, work, fake = world
    write_record(work, "good", record("good"))
    (fake / "clusters").write_text("good")
    (fake / "containers.json").write_text(json.dumps({
        "lab-good-haproxy-1": {**OWNER, "com.docker.compose.project": "lab-good"},
        "lab-good-database-1": {"com.docker.compose.project": "lab-good"},  # someone else's, same project name
    }))
    result = run_lab("down", "good")
    assert result.exit_code == 1 and "lab-good-database-1" in result.stdout + result.stderr
    assert not [c for c in fake_calls(fake) if c[:2] == ["docker", "compose"] and "down" in c]
    assert (work / ".lab/good/state.json").exists()


def test_down_removes_only_a_network_carrying_the_instances_labels(world):
    _labs, work, fake = world
    write_record(work, "good", record("good", runtime_state={"created_cluster": "good", "created_network": "kind"}))
    (fake / "network-state").write_text("configured")
    (fake / "network-labels.json").write_text("{}")  # kind's (or a user's) network of that name
    assert run_lab("down", "good").exit_code == 0
    assert not [c for c in fake_calls(fake) if c[:3] == ["docker", "network", "rm"]]


def test_a_docker_label_filter_without_the_ownership_labels_is_refused():
    from orchestrator.providers.docker import _label_filter

    for labels in ({}, {INSTANCE_LABEL: "x"}, {OWNER_LABEL: "lab", LAB_LABEL: "x", INSTANCE_LABEL: ""},
                   {OWNER_LABEL: "someone", LAB_LABEL: "x", INSTANCE_LABEL: "x"}):
        with pytest.raises(LabError, match="ownership labels"):
            _label_filter(labels)
    assert _label_filter(OWNER) == {"label": [f"{k}={v}" for k, v in OWNER.items()]}


def test_the_engine_never_removes_a_container_without_the_owners_labels():
    from orchestrator.providers.docker import DockerEngine

    engine = DockerEngine.__new__(DockerEngine)  # no engine is reached: the guard comes first
    engine.client = None
    for labels in ({}, {**OWNER, INSTANCE_LABEL: "other"}, {OWNER_LABEL: "lab"}):
        with pytest.raises(PermanentFailure, match="was not made by this lab instance"):
            engine.remove(SimpleNamespace(name="lab-good-envoy", labels=labels), OWNER)


def test_a_malformed_results_file_is_refused_by_guide_results(world):
    _labs, work, _fake = world
    (work / ".lab/results").mkdir(parents=True)
    for content in ("[]", "{\"checks\": 3}", "not json", json.dumps({"lab": "mini", "instance": "mini", "runtime": "docker",
                                                                      "checks": [{"name": "x", "status": "exploded"}]})):
        (work / ".lab/results/mini.json").write_text(content)
        result = run_lab("guide", "mini", "--results", "--out", "guide-out")
        assert result.exit_code == 2 and "mini.json: is not a report" in result.stderr, result.stderr


def test_instances_are_found_from_anywhere_and_torn_down_where_they_live(world, tmp_path, own_registry):
    """`lab up` remembers its home: status lists every home's instances, `down NAME` from elsewhere removes the
    one where it lives (its own kubeconfig), `down --all` covers every home; a name up in one home is refused in
    another (container and cluster names are the machine's)."""
    from orchestrator.lifecycle.homes import remember

    _labs, work, fake = world
    other = tmp_path / "other"
    write_record(work, "good", record("good"))
    write_record(other, "far", record("far"))
    remember(work)
    remember(other)
    (fake / "clusters").write_text("good\nfar")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    status = run_lab("status", "-o", "json")
    assert status.exit_code == 0, status.stderr
    assert {(i["instance"], i["home"]) for i in json.loads(status.stdout)} == {("good", str(work)), ("far", str(other))}
    refused = run_lab("up", "inject-mtls", "--instance", "far", "--runtime", "kind")
    assert refused.exit_code == 2 and f"instance far is already up from {other}" in refused.stderr
    assert not [c for c in fake_calls(fake) if c[0] == "kind" and c[1] in ("create", "delete")]
    gone = run_lab("down", "far", "-o", "json")
    assert gone.exit_code == 0, gone.stderr
    assert json.loads(gone.stdout)[0]["home"] == str(other) and not (other / ".lab/far").exists()
    assert ["kind", "delete", "cluster", "--name", "far", "--kubeconfig", str(other / ".lab/far/kubeconfig")] in fake_calls(fake)
    every = run_lab("down", "--all")
    assert every.exit_code == 0 and not (work / ".lab/good").exists()
    assert files(elsewhere) == []  # nothing written where the commands ran


def test_a_home_in_the_registry_is_only_a_place_to_look(world, tmp_path, own_registry):
    """An entry naming a folder that holds no `.lab/` of records is passed over: nothing read or removed there."""
    _labs, work, fake = world
    victim = tmp_path / "victim"
    (victim / "lab").mkdir(parents=True)
    (victim / "lab" / "state.json").write_text(json.dumps(record("lab")))
    own_registry.write_text(json.dumps({"homes": [str(victim), str(victim / "lab"), "../x"]}))
    result = run_lab("down", "--all")
    assert result.exit_code == 0 and "'../x' is not an absolute path" in result.stderr
    assert (victim / "lab" / "state.json").exists() and fake_calls(fake) == []

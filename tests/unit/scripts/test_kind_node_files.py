"""What scripts/build_kind_node.py puts into kind's node image of its own (scripts/kind-node/): containerd told to
clamp oom_score_adj on a node that cannot lower it, and the pod network's CNI template containerd renders."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[3] / "scripts" / "kind-node"
RESTRICT = FILES / "base/usr/local/bin/lab-restrict-oom-score-adj"
ALL_CAPS = (1 << 41) - 1
SYS_RESOURCE = 24
# the line of kind's own containerd config (images/base/files/etc/containerd/config.toml) the script turns
KIND_LINE = "  restrict_oom_score_adj = false\n"


@pytest.mark.parametrize("bounding, restricted", [(ALL_CAPS, False), (ALL_CAPS & ~(1 << SYS_RESOURCE), True)],
                         ids=["node with CAP_SYS_RESOURCE", "node without it"])
def test_containerd_clamps_oom_score_adj_only_on_a_node_that_cannot_lower_it(tmp_path, bounding, restricted):
    (tmp_path / "status").write_text(f"Name:\tsh\nCapBnd:\t{bounding:016x}\n")
    config = tmp_path / "config.toml"
    config.write_text('[plugins."io.containerd.grpc.v1.cri"]\n' + KIND_LINE)
    env = {**os.environ, "LAB_PROC_STATUS": str(tmp_path / "status"), "LAB_CONTAINERD_CONFIG": str(config)}
    result = subprocess.run([str(RESTRICT)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert ("restrict_oom_score_adj = true" in config.read_text()) is restricted
    assert ("lacks CAP_SYS_RESOURCE" in result.stderr) is restricted


def test_containerd_runs_the_script_before_it_starts():
    dropin = (FILES / "base/etc/systemd/system/containerd.service.d/10-lab-oom-score-adj.conf").read_text()
    assert "ExecStartPre=/usr/local/bin/lab-restrict-oom-score-adj" in dropin
    assert os.access(RESTRICT, os.X_OK)


def test_the_cni_template_renders_one_range_per_pod_cidr_and_the_routes(tmp_path):
    go = subprocess.run(["go", "version"], capture_output=True)
    if go.returncode != 0:
        pytest.skip("Go is not installed (containerd's templates are Go's text/template)")
    (tmp_path / "main.go").write_text(textwrap.dedent('''\
        package main

        import (
        \t"encoding/json"
        \t"os"
        \t"text/template"
        )

        func main() {
        \tvar data struct {
        \t\tPodCIDR       string
        \t\tPodCIDRRanges []string
        \t\tRoutes        []string
        \t}
        \tif err := json.Unmarshal([]byte(os.Args[2]), &data); err != nil {
        \t\tpanic(err)
        \t}
        \tt := template.Must(template.ParseFiles(os.Args[1]))
        \tif err := t.Execute(os.Stdout, data); err != nil {
        \t\tpanic(err)
        \t}
        }
    '''))
    (tmp_path / "go.mod").write_text("module render\n\ngo 1.21\n")
    data = {"PodCIDR": "10.244.0.0/24", "PodCIDRRanges": ["10.244.0.0/24", "fd00:10:244::/64"], "Routes": ["0.0.0.0/0", "::/0"]}
    out = subprocess.run(["go", "run", ".", str(FILES / "base/etc/containerd/cni.conflist.template"), json.dumps(data)],
                         cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "GOFLAGS": "-mod=mod"})
    assert out.returncode == 0, out.stderr
    conflist = json.loads(out.stdout)
    ptp, portmap = conflist["plugins"]
    assert ptp["type"] == "ptp" and ptp["ipMasq"] is True and portmap["type"] == "portmap"
    assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}], [{"subnet": "fd00:10:244::/64"}]]
    assert ptp["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]

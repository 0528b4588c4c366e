"""`lab guide`: the walkthrough written from the spec, its topology drawn by the real Graphviz, the page loaded
by a real headless Chromium with no network, and the commands shown being the ones the checks run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from orchestrator.checks.registry import default_checks
from orchestrator.context import LabContext
from orchestrator.shellenv import line
from tests.helpers import FIXTURE_LABS, LABS, REPO, run_lab

ARTIFACTS = Path(os.environ.get("LAB_TEST_ARTIFACTS", REPO / ".lab" / "test-artifacts"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} not installed: run scripts/sysdeps.sh (graphviz, chromium)")
    return found


@pytest.fixture
def guide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    require("dot")
    result = run_lab("guide", "inject-mtls", "--out", "g", "--runtime", "kind")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "g"


def test_the_guide_names_every_step_and_check_and_writes_nothing_else(guide, tmp_path):
    lab = LabContext(workdir=tmp_path).load("inject-mtls")
    html, md = (guide / "guide.html").read_text(), (guide / "guide.md").read_text()
    for step in lab.steps:
        assert f'id="step-{step.name}"' in html and f". {step.name} (" in md
    assert sorted(p.name for p in guide.iterdir()) == ["guide.html", "guide.md", "topology.dot", "topology.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # no PKI, no rendered files, no state
    assert "```mermaid\nflowchart LR" in md and "![topology](topology.svg)" in md


def test_the_topology_holds_the_pod_envoy_haproxy_echo_and_the_redirect_path(guide):
    titles = [unescape(t) for t in re.findall(r"<title>(.*?)</title>", (guide / "topology.svg").read_text())]
    for node in ("pod mtls-inject/curl", "Envoy mtls-injection-envoy", "haproxy", "echo"):
        assert node in titles
    assert "pod mtls-inject/curl->Envoy mtls-injection-envoy" in titles  # redirected to the listener
    assert "Envoy mtls-injection-envoy->haproxy" in titles  # TLS originated by the proxy
    assert "pod mtls-inject/curl->haproxy" in titles  # the direct checks
    assert "haproxy->echo" in titles
    dot = (guide / "topology.dot").read_text()
    assert "plain-http-injected: :8083 redirected to listener mtls-injection-listener" in dot
    assert "direct-mtls-with-cert: :8083" in dot and '"Envoy mtls-injection-envoy" -> "haproxy"' in dot


def test_a_checks_commands_are_the_ones_its_kind_runs(guide, tmp_path):
    """Same argv source: the check kind's own command lines, run in the check's pod."""
    lab = LabContext(workdir=tmp_path).load("inject-mtls")
    md = (guide / "guide.md").read_text()
    kinds = default_checks()
    for step in (s for s in lab.steps if s.check):
        for argv in kinds.get(step.check.type).commands(step.check):
            assert line(argv) in md, step.name
    assert "kubectl exec -n mtls-inject curl -- curl -sS --max-time 60 -X GET http://172.18.255.249:8083/" in md
    # Hubble in the agent on the node of the pod the flows come from, as the check asks it
    assert ("kubectl -n kube-system exec $(kubectl -n kube-system get pod -l k8s-app=cilium --field-selector "
            "spec.nodeName=$(kubectl get pod -n mtls-inject curl -o jsonpath='{.spec.nodeName}') -o name) -c cilium-agent -- hubble observe") in md
    assert "kubectl wait --for=condition=Ready pod/curl --timeout=180s -n mtls-inject" in md
    assert 'kubectl apply --server-side --field-manager=lab -f "$LAB_RENDERED"/manifests/cilium/02-cnp.yaml' in md
    assert 'lab up inject-mtls --runtime kind --until direct\neval "$(lab env inject-mtls)"\n' in md


def test_a_docker_runtime_guide_types_what_that_runtime_runs(tmp_path, monkeypatch):
    """No kind, helm or `kubectl exec` where pods are containers and Cilium is emulated: `lab exec`, the steps
    the runtime leaves out left out by label, and a note where there is nothing to type."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text("images: {}\n")
    assert run_lab("guide", "inject-mtls", "--out", "g", "--format", "md", "--runtime", "docker", "--images", "x.yaml").exit_code == 0
    md = (tmp_path / "g/guide.md").read_text()
    commands = [c for c in re.findall(r"```bash\n(.*?)```", md, re.S) for c in c.splitlines() if not c.startswith("#")]
    assert commands[:2] == ["lab up inject-mtls --runtime docker --images x.yaml --until direct", 'eval "$(lab env inject-mtls)"']
    assert not [c for c in commands if c.startswith(("kind ", "helm ", "kubectl exec", "kubectl -n kube-system exec"))]
    assert "lab exec inject-mtls mtls-inject/curl -- curl -sS --max-time 60 -X GET http://172.18.255.249:8083/" in commands
    assert "# the docker runtime has nowhere to run this (hubble): `lab check` asks its emulation." in md
    assert run_lab("guide", "webhook-ca-repair", "--out", "w", "--format", "md", "--runtime", "docker").exit_code == 0
    md = (tmp_path / "w/guide.md").read_text()
    assert "00-metallb-native.yaml -l 'lab.dev/left-out-on-docker!=true'" in md
    assert run_lab("guide", "hubble-tls", "--out", "h", "--format", "md", "--runtime", "docker").exit_code == 0
    md = (tmp_path / "h/guide.md").read_text()
    assert "lab solve hubble-tls --step cilium-on-cert-manager" in md and "lab exec hubble-tls kube-system/hubble-client" not in md


def test_values_flow_into_the_guide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_lab("guide", "inject-mtls", "--out", "g", "--format", "md", "--set", "haproxy.port=9443").exit_code == 0
    assert ":9443 redirected to listener" in (tmp_path / "g/guide.md").read_text()
    assert not (tmp_path / "g/guide.html").exists()


@pytest.mark.parametrize("lab_name, root", [("inject-mtls", LABS), ("k8s-user-certs", LABS), ("mini", FIXTURE_LABS), ("two-pods", FIXTURE_LABS), ("deploy-svc", FIXTURE_LABS)])
def test_every_lab_gets_a_guide_from_its_spec_alone(lab_name, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAB_PATH", str(root))
    result = run_lab("guide", lab_name, "--out", "g")
    assert result.exit_code == 0, result.stderr
    lab = LabContext(workdir=tmp_path).load(lab_name)
    html = (tmp_path / "g/guide.html").read_text()
    assert all(f'id="step-{s.name}"' in html for s in lab.steps) and "<svg" in html


def test_without_graphviz_the_guide_carries_the_dot_and_says_how_to_draw_it(tmp_path, monkeypatch):
    import orchestrator.providers.process as process

    real = process.which
    monkeypatch.setattr(process, "which", lambda tool: None if tool == "dot" else real(tool))
    monkeypatch.chdir(tmp_path)
    result = run_lab("guide", "inject-mtls", "--out", "g")
    assert result.exit_code == 0, result.stderr
    assert "graphviz (dot) not found" in result.stdout + result.stderr and "dot -Tsvg g/topology.dot -o g/topology.svg" in result.stdout + result.stderr
    html = (tmp_path / "g/guide.html").read_text()
    assert "<svg" not in html and "digraph lab {" in html
    assert not (tmp_path / "g/topology.svg").exists() and (tmp_path / "g/topology.dot").is_file()
    doctor_finding = __import__("orchestrator.diagnostics", fromlist=["graphviz_finding"]).graphviz_finding()
    assert not doctor_finding.ok and not doctor_finding.blocking and "graphviz" in doctor_finding.fix


def test_results_mark_each_check_with_what_was_seen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_lab("guide", "inject-mtls", "--results").exit_code == 2  # nothing ran yet: said, exit 2
    results = tmp_path / ".lab/results/inject-mtls.json"
    results.parent.mkdir(parents=True)
    results.write_text("{not json")
    garbled = run_lab("guide", "inject-mtls", "--results")
    assert garbled.exit_code == 2 and "is not a report" in garbled.stderr and "Traceback" not in garbled.stderr
    results.write_text(json.dumps({"lab": "inject-mtls", "runtime": "docker", "at": "2026-11-23T10:00:00+0000", "command": "verify", "checks": [
        {"name": "direct-mtls-with-cert", "status": "passed", "seen": {"status": 200}, "message": "", "seconds": 0.1},
        {"name": "plain-http-injected", "status": "failed", "seen": {"exitCode": 7}, "message": "curl failed (exit 7)", "seconds": 60.0}]}))
    result = run_lab("guide", "inject-mtls", "--results", "--out", "g")
    assert result.exit_code == 0, result.stderr
    html = (tmp_path / "g/guide.html").read_text()
    section = lambda name: html[html.index(f'id="step-{name}"'):].split("</section>")[0]  # noqa: E731
    assert 'class="badge passed"' in section("direct-mtls-with-cert")
    failed = section("plain-http-injected")
    assert 'class="badge failed"' in failed and "curl failed (exit 7)" in failed and "exitCode" in failed
    assert 'class="badge not_run"' in section("hubble-to-proxy")
    assert "docker" in html and "<code>lab verify</code>" in html


def test_a_korean_lab_gets_a_korean_guide(tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    shutil.copytree(FIXTURE_LABS / "mini", labs / "mini")
    spec = labs / "mini/lab.yaml"
    text = spec.read_text()
    text = re.sub(r"(?m)^title: .*$", "title: 인증서로 사용자 만들기", text)
    text = re.sub(r"(?m)^description: .*$", "description: 쿠버네티스 인증서와 CSR로 사용자를 만들고 권한을 확인합니다.", text)
    spec.write_text(text)
    monkeypatch.setenv("LAB_PATH", str(labs))
    monkeypatch.chdir(tmp_path)
    assert run_lab("guide", "mini", "--out", "g").exit_code == 0
    html = (tmp_path / "g/guide.html").read_text()
    assert '<html lang="ko">' in html and "단계" in html and "토폴로지" in html


def page_requests(html: Path, netlog: Path) -> list[str]:
    """Load the page in headless Chromium with the network unreachable; every request the page made."""
    result = subprocess.run([require("chromium"), *CHROMIUM_FLAGS, f"--log-net-log={netlog}", "--dump-dom", html.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-2000:]
    events = json.loads(netlog.read_text())["events"]
    # The page's own requests carry its (file://) isolation key; Chromium's background services do not.
    return sorted({e["params"]["url"] for e in events if "url" in e.get("params", {})
                   and "file://" in str(e.get("params", {}).get("network_isolation_key", ""))}
                  | {e["params"]["url"] for e in events if e.get("params", {}).get("initiator") == "null" and "url" in e["params"]})


def test_chromium_renders_the_guide_offline_with_no_request(guide, tmp_path):
    assert page_requests(guide / "guide.html", tmp_path / "net.json") == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "guide-inject-mtls.png"
    subprocess.run([require("chromium"), *CHROMIUM_FLAGS, "--window-size=1280,2400", f"--screenshot={shot}", (guide / "guide.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # a rendered page, kept as the test's artifact


def test_the_offline_check_catches_a_page_that_fetches(tmp_path):
    """The check above can fail: a page with an external image and stylesheet is caught."""
    page = tmp_path / "fetching.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://example.com/a.css"></head>'
                    '<body><img src="http://example.com/x.png"></body></html>')
    assert page_requests(page, tmp_path / "net.json") == ["http://example.com/x.png", "https://example.com/a.css"]


def test_a_users_lab_draws_its_users_the_api_server_and_rbac(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    require("dot")
    assert run_lab("guide", "k8s-user-certs", "--out", "g").exit_code == 0
    titles = [unescape(t) for t in re.findall(r"<title>(.*?)</title>", (tmp_path / "g/topology.svg").read_text())]
    for node in ("user ringu", "user john", "user forged-ringu", "kube-apiserver", "RoleBinding read-pods", "Role pod-reader"):
        assert node in titles
    assert "user ringu->kube-apiserver" in titles and "RoleBinding read-pods->user ringu" in titles
    dot = (tmp_path / "g/topology.dot").read_text()
    assert "forged-unauthorized: list pods → 401" in dot and "kind nodes: 1 control-plane" in dot
    md = (tmp_path / "g/guide.md").read_text()
    assert "kubectl certificate approve ringu" in md
    assert 'openssl req -new -key "$LAB_USERS"/ringu.key -out "$LAB_USERS"/ringu.csr -subj /CN=ringu/O=k8sproject' in md


def test_each_stage_opens_with_its_words_and_how_to_check_it(guide):
    """The author's stage prose, the sample to compare with, `lab check` for it, and each check's hint."""
    md = (guide / "guide.md").read_text()
    html = unescape((guide / "guide.html").read_text())
    for stage, title in (("direct", "A backend that demands a client certificate"), ("inject", "Envoy injects the certificate")):
        assert f"### Stage `{stage}`: {title}" in md
        assert f"When you have done it, check it: `lab check inject-mtls {stage}`" in md
        assert f'id="stage-{stage}"' in html and f"lab check inject-mtls {stage}" in html
    assert md.index("### Stage `inject`") < md.index("#### 6. cilium-crds (wait)") < md.index("#### 7. cilium-objects")
    assert "Flux's notification-controller `Provider`" in md and "$ curl -s http://172.18.255.249:8083/" in md
    assert "If it fails: A refused or reset connection means the traffic went straight to haproxy" in md
    assert "<strong>If it fails</strong>: A 200 here means Envoy trusted" in html


def test_the_picture_draws_each_kind_of_traffic_its_own_way_with_a_legend(tmp_path, monkeypatch):
    """starwars-policy: the Service linked to the pods it selects; allowed, dropped and 403 arrows drawn apart (as
    each check's expectation says), a legend of the kinds drawn, edge labels at 11 pt, a font list with a
    Korean fallback; the Mermaid picture the same, each arrow coloured."""
    monkeypatch.chdir(tmp_path)
    require("dot")
    assert run_lab("guide", "starwars-policy", "--out", "g", "--runtime", "docker").exit_code == 0
    dot = (tmp_path / "g/topology.dot").read_text()
    assert '"service default/deathstar" -> "pod default/Deployment deathstar" [label="selects"' in dot
    assert '"pod default/xwing" -> "service default/deathstar" [label="xwing-dropped: :80", color="#c92a2a", style=dashed, arrowhead=tee]' in dot
    assert '"pod default/tiefighter" -> "service default/deathstar" [label="exhaust-port-denied: :80", color="#e67700"' in dot
    assert '"pod default/tiefighter" -> "service default/deathstar" [label="tiefighter-lands: :80", color="#2b8a3e"' in dot
    assert "legend [shape=plaintext" in dot and "dropped or refused" in dot and "redirected to Cilium" not in dot  # only kinds drawn
    assert '<font color="#c92a2a">- - -┤</font>' in dot
    assert 'edge [fontname="Helvetica,Arial,Noto Sans CJK KR' in dot and "fontsize=11" in dot
    svg = (tmp_path / "g/topology.svg").read_text()
    assert "Noto Sans CJK KR" in svg and 'font-size="11.00">xwing&#45;dropped: :80' in svg
    md = (tmp_path / "g/guide.md").read_text()
    assert '--x|"xwing-dropped: :80"|' in md and "linkStyle" in md and 'subgraph legend["Legend"]' in md


def test_a_certificate_labs_picture_draws_who_trusts_what(tmp_path, monkeypatch):
    """webhook-ca-repair: the caBundles that must hold the Secret's CA, the serving certificate and the CA it must
    (or, once broken, must not) chain to, and the API server calling the webhook it trusts or refuses."""
    monkeypatch.chdir(tmp_path)
    require("dot")
    assert run_lab("guide", "webhook-ca-repair", "--out", "g", "--format", "md", "--runtime", "docker").exit_code == 0
    dot = (tmp_path / "g/topology.dot").read_text()
    secret = '"Secret metallb-system/metallb-webhook-cert"'
    assert f'"ValidatingWebhookConfiguration metallb-webhook-configuration" -> {secret} [label="ca-injected: caBundle = its ca.crt", color="#2b8a3e"' in dot
    assert f'"CustomResourceDefinition bgppeers.metallb.io" -> {secret}' in dot
    assert f'{secret} -> {secret} [label="serving-cert-foreign: tls.crt NOT signed by ca.crt", color="#c92a2a"' in dot
    assert '"kube-apiserver" -> "service metallb-system/metallb-webhook-service" [label="pool-refused: calls the webhook over TLS, trusting its caBundle", color="#c92a2a"' in dot


def test_the_guide_ends_with_a_recap_experiments_and_cleanup(guide):
    """The lab's epilogue: what it showed, experiments in `sh` blocks (not the walkthrough's `bash` ones: they
    break the lab on purpose), and cleanup, which always says `lab down`."""
    md = (guide / "guide.md").read_text()
    html = unescape((guide / "guide.html").read_text())
    assert md.index("## What this lab showed") < md.index("## Try this") < md.index("## Clean up")
    assert "### The field notes' Envoy, which trusts any server" in md
    assert "```sh\nlab up inject-mtls --set envoy.validateServer=false\n" in md
    assert md.rstrip().endswith("```sh\nlab down inject-mtls\n```")
    assert 'id="try-this"' in html and '<pre class="commands">lab down inject-mtls</pre>' in html
    assert "$ kubectl" not in html  # commands copy as they are, no prompt in front

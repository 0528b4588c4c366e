"""Every artifact of inject-mtls validated by the real tools: kubernetes-validate, haproxy, Envoy, curl."""

import json
import subprocess

import kubernetes_validate
import pytest
import yaml

from orchestrator.context import LabContext, Overrides
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.render.artifacts import render_to
from tests.helpers import run_lab
from tests.integration.conftest import curl, envoy_binary, haproxy_binary, render_loopback

CORE_KINDS = {"Namespace", "Secret", "Pod"}


@pytest.fixture
def default_render(tmp_path):
    """inject-mtls rendered with its defaults, as `lab render` writes it."""
    ctx = LabContext(workdir=tmp_path)
    lab = ctx.load("inject-mtls")
    PkiManager(lab.pki, PkiStore(tmp_path / "pki")).ensure()
    render_to(lab, tmp_path / "pki", tmp_path / "out")
    return lab, tmp_path / "out"


def all_docs(out):
    docs = []
    for path in sorted((out / "manifests").rglob("*.yaml")):
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_core_objects_pass_kubernetes_validate(default_render):
    lab, out = default_render
    k8s_version = lab.versions["kubernetes"].lstrip("v")
    kinds = set()
    for path, doc in all_docs(out):
        if doc["kind"] in CORE_KINDS:
            kubernetes_validate.validate(doc, k8s_version, strict=True)
            kinds.add(doc["kind"])
    assert kinds == CORE_KINDS


def test_kubernetes_validate_catches_a_broken_pod(default_render):
    _lab, out = default_render
    pod = next(d for _p, d in all_docs(out) if d["kind"] == "Pod")
    pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"bad": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.35.0", strict=True)


def test_every_rendered_yaml_parses(default_render):
    _lab, out = default_render
    files = [p for p in out.rglob("*.yaml")]
    assert len(files) >= 9
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_kind_config_and_cilium_values(default_render):
    lab, out = default_render
    kind = yaml.safe_load((out / "cluster/kind-config.yaml").read_text())
    assert kind["networking"] == {"disableDefaultCNI": True, "kubeProxyMode": "none"}
    assert kind["name"] == "inject-mtls" and [n["role"] for n in kind["nodes"]] == ["control-plane", "worker"]
    assert all(n["image"] == lab.images["kindNode"] for n in kind["nodes"])
    values = yaml.safe_load((out / "cluster/charts/cilium.values.yaml").read_text())
    assert values["kubeProxyReplacement"] is True  # "partial" no longer exists
    assert values["k8sServiceHost"] == "inject-mtls-control-plane" and values["k8sServicePort"] == 6443
    assert values["envoyConfig"] == {"enabled": True, "secretsNamespace": {"create": True, "name": "cilium-secrets"}}
    assert values["envoy"]["enabled"] and values["l7Proxy"] and values["operator"]["replicas"] == 1
    assert values["hubble"]["enabled"] and values["hubble"]["relay"]["enabled"]
    for image in (values["image"], values["operator"]["image"], values["envoy"]["image"], values["hubble"]["relay"]["image"]):
        assert image == {"useDigest": False, "pullPolicy": "IfNotPresent"}  # side-loaded images are found by tag


def test_cnp_refers_to_the_ccec_listener_by_exact_names(default_render):
    lab, out = default_render
    docs = [d for _p, d in all_docs(out)]
    ccec = next(d for d in docs if d["kind"] == "CiliumClusterwideEnvoyConfig")
    cnp = next(d for d in docs if d["kind"] == "CiliumNetworkPolicy")
    listeners = {r["name"] for r in ccec["spec"]["resources"] if r["@type"].endswith("Listener")}
    clusters = {r["name"] for r in ccec["spec"]["resources"] if r["@type"].endswith("Cluster")}
    redirect = cnp["spec"]["egress"][2]
    listener = redirect["toPorts"][0]["listener"]
    assert listener["envoyConfig"] == {"kind": "CiliumClusterwideEnvoyConfig", "name": ccec["metadata"]["name"]}
    assert listener["name"] in listeners
    tcp_proxy = next(r for r in ccec["spec"]["resources"] if r["@type"].endswith("Listener"))["filter_chains"][0]["filters"][0]
    assert tcp_proxy["typed_config"]["cluster"] in clusters
    assert redirect["toCIDR"] == [f"{lab.values['haproxy']['ip']}/32"]
    assert redirect["toPorts"][0]["ports"] == [{"port": str(lab.values["haproxy"]["port"]), "protocol": "TCP"}]
    assert all("address" not in r for r in ccec["spec"]["resources"] if r["@type"].endswith("Listener"))


def test_secret_layout_follows_cilium_rules(default_render):
    _lab, out = default_render
    secrets = [d for _p, d in all_docs(out) if d["kind"] == "Secret" and d["metadata"]["namespace"] == "cilium-secrets"]
    by_name = {s["metadata"]["name"]: set(s["data"]) for s in secrets}
    assert by_name == {"tls-client-cert": {"tls.crt", "tls.key"}, "lab-ca": {"ca.crt"}}


def test_server_certificate_carries_sni_and_address(default_render, tmp_path):
    lab, _out = default_render
    text = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "pki/server.crt"), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert f"DNS:{lab.values['haproxy']['serverName']}" in text and f"IP Address:{lab.values['haproxy']['ip']}" in text


def test_unvalidated_option_drops_validation(tmp_path):
    ctx = LabContext(workdir=tmp_path)
    lab = ctx.load("inject-mtls", Overrides(sets=("envoy.validateServer=false",)))
    PkiManager(lab.pki, PkiStore(tmp_path / "pki")).ensure()
    render_to(lab, tmp_path / "pki", tmp_path / "out")
    ccec = yaml.safe_load((tmp_path / "out/manifests/cilium/01-ccec.yaml").read_text())
    clusters = [r for r in ccec["spec"]["resources"] if r["@type"].endswith("Cluster")]
    assert len(clusters) == 2
    for cluster in clusters:
        assert "combined_validation_context" not in cluster["transport_socket"]["typed_config"]["common_tls_context"]
    secrets = list(yaml.safe_load_all((tmp_path / "out/manifests/cilium/00-cilium-secrets.yaml").read_text()))
    assert [s["metadata"]["name"] for s in secrets if s] == ["tls-client-cert"]


def test_render_is_deterministic_and_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # any network use would fail
    # One PKI for both (with --out alone each would keep its own, and its own keys make other bytes)
    assert run_lab("render", "inject-mtls", "--out", "a", "--pki", "keys").exit_code == 0
    assert run_lab("render", "inject-mtls", "--out", "b", "--pki", "keys").exit_code == 0
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert a == b and len(a) == 16  # with the namespace the docker runtime creates in place of Cilium's chart, and the record of what lab wrote


def test_haproxy_config_check(loopback, default_render):
    _lab, out = default_render
    for cfg in (loopback.out / "stack/haproxy.cfg", out / "stack/haproxy.cfg"):
        result = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True,
                                cwd=cfg.parent)
        if cfg == out / "stack/haproxy.cfg":
            # The default config points at the container's paths; check it with the certificates where it expects them.
            text = cfg.read_text().replace("/usr/local/etc/haproxy/certs", str(out / "stack/certs")).replace("inject-mtls-echo:8081", "127.0.0.1:8081")
            patched = loopback.root / "default-haproxy.cfg"
            patched.write_text(text)
            result = subprocess.run([haproxy_binary(), "-c", "-f", str(patched)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "Configuration file is valid" in result.stdout + result.stderr


def test_haproxy_enforces_mtls_and_forwards(loopback):
    loopback.start_echo()
    loopback.start_haproxy()
    pki, port = loopback.pki, loopback.ports["haproxy"]
    url = f"https://127.0.0.1:{port}/hello"
    ok = curl("--cacert", str(pki / "ca.crt"), "--cert", str(pki / "client-chain.crt"), "--key", str(pki / "client.key"), url)
    assert ok.returncode == 0, ok.stderr
    echoed = json.loads(ok.stdout)
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert echoed["path"] == "/hello" and echoed["method"] == "GET"
    assert headers["x-ssl-client-cn"] == "mtls-inject-client"
    assert headers["x-ssl-client-verify"] == "0"
    assert "CN=Lab Intermediate CA" in headers["x-ssl-issuer"]
    refused = curl("--cacert", str(pki / "ca.crt"), url)
    assert refused.returncode == 56 and "certificate required" in refused.stderr
    health = curl(f"http://127.0.0.1:{loopback.ports['health']}/")
    assert health.stdout == "ok"


def test_haproxy_refuses_client_of_another_ca(loopback, tmp_path):
    other = render_loopback(tmp_path / "other")
    loopback.start_echo()
    loopback.start_haproxy()
    result = curl("--cacert", str(loopback.pki / "ca.crt"), "--cert", str(other.pki / "client-chain.crt"),
                  "--key", str(other.pki / "client.key"), f"https://127.0.0.1:{loopback.ports['haproxy']}/")
    assert result.returncode != 0 and "unknown ca" in result.stderr.lower()


def test_envoy_validates_the_ccec(loopback):
    bootstrap = loopback.write_envoy_bootstrap({name: 10000 + i for i, name in enumerate(loopback.listeners())}, 9901)
    result = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(bootstrap)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_envoy_injects_the_client_certificate(loopback):
    loopback.start_echo()
    loopback.start_haproxy()
    listener = loopback.start_envoy()[loopback.listeners()[0]]
    result = curl(f"http://127.0.0.1:{listener}/via-envoy", "-H", f"Host: 127.0.0.1:{loopback.ports['haproxy']}")
    assert result.returncode == 0, result.stderr
    echoed = json.loads(result.stdout)
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert headers["x-ssl-client-cn"] == "mtls-inject-client" and echoed["path"] == "/via-envoy"


def envoy_against_foreign_server(tmp_path, extra_sets=()):
    """haproxy serves a server certificate from a foreign CA; returns curl's result through Envoy."""
    lab = render_loopback(tmp_path / "lab", extra_sets)
    foreign = render_loopback(tmp_path / "foreign")
    try:
        (lab.out / "stack/certs/server.pem").write_bytes((foreign.pki / "server.pem").read_bytes())
        lab.start_echo()
        lab.start_haproxy()
        return curl(f"http://127.0.0.1:{lab.start_envoy()[lab.listeners()[0]]}/")
    finally:
        lab.stop()


def test_envoy_refuses_haproxy_with_certificate_of_another_ca(tmp_path):
    result = envoy_against_foreign_server(tmp_path)
    assert "x-ssl-client-cn" not in result.stdout.lower()
    assert result.returncode in (52, 56), (result.returncode, result.stderr)


def test_without_validation_envoy_accepts_foreign_server_certificate(tmp_path):
    """The seed's behaviour (envoy.validateServer=false) really skips validation."""
    result = envoy_against_foreign_server(tmp_path, ("envoy.validateServer=false",))
    assert result.returncode == 0 and "mtls-inject-client" in result.stdout


def impostor_through_envoy(tmp_path, extra_sets=()):
    """Plain HTTP into the impostor's listener: Envoy originates TLS to haproxy's impostor frontend, which
    presents the self-signed certificate for haproxy's own name."""
    lab = render_loopback(tmp_path / "lab", extra_sets)
    try:
        lab.start_echo()
        lab.start_haproxy()
        return curl("-w", "\n%{http_code}", f"http://127.0.0.1:{lab.start_envoy()[lab.listeners()[1]]}/")
    finally:
        lab.stop()


def test_envoy_answers_the_impostor_with_503_naming_the_verification_failure(tmp_path):
    """What the lab's foreign-server-refused check expects, from the real Envoy running the rendered CCEC."""
    result = impostor_through_envoy(tmp_path)
    body, _, status = result.stdout.rpartition("\n")
    assert result.returncode == 0 and status == "503", (result.returncode, result.stdout, result.stderr)
    assert "CERTIFICATE_VERIFY_FAILED" in body and "unable to get local issuer certificate" in body.replace("_", " ")


def test_without_validation_the_impostor_is_served(tmp_path):
    """So the lab's impostor check fails when validation is off: it can fail."""
    result = impostor_through_envoy(tmp_path, ("envoy.validateServer=false",))
    body, _, status = result.stdout.rpartition("\n")
    assert status == "200" and json.loads(body)["path"] == "/"  # the echo server's answer, through the impostor


def test_impostor_certificate_is_self_signed_for_haproxys_name(default_render, tmp_path):
    lab, _out = default_render
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((tmp_path / "pki/impostor.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "pki/intermediate.crt").read_bytes())
    assert cert.issuer == cert.subject and cert.issuer != ca.subject
    cert.verify_directly_issued_by(cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [lab.values["haproxy"]["serverName"]]

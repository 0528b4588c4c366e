"""The docker runtime's Hubble stand-in counts only the redirects a query's --to-ip/--to-port select."""

import yaml

from orchestrator.context import LabContext
from orchestrator.network.emulated.proxy import Route, Sample, routes


def rendered_cilium_docs(tmp_path) -> list[dict]:
    from orchestrator.pki.manager import PkiManager
    from orchestrator.pki.store import PkiStore
    from orchestrator.render.artifacts import render_to

    lab = LabContext(workdir=tmp_path).load("inject-mtls")
    PkiManager(lab.pki, PkiStore(tmp_path / "pki")).ensure()
    render_to(lab, tmp_path / "pki", tmp_path / "out")
    return [d for p in sorted((tmp_path / "out/manifests/cilium").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_each_redirect_knows_its_proxy_port_and_clusters(tmp_path):
    docs = rendered_cilium_docs(tmp_path)
    cnp = next(d for d in docs if d["kind"] == "CiliumNetworkPolicy")
    ccecs = [d for d in docs if d["kind"] == "CiliumClusterwideEnvoyConfig"]
    found = routes(cnp, ccecs, docs)
    assert [(r.port, r.proxy_port, r.clusters) for r in found] == [
        (8083, 15000, ("internal-tls-cluster",)), (8443, 15001, ("internal-tls-cluster-impostor",))]
    assert [r.port for r in found if r.matches("172.18.255.249", 8083)] == [8083]
    assert [r.port for r in found if r.matches("172.18.255.249", None)] == [8083, 8443]
    assert [r for r in found if r.matches("10.0.0.1", 8083)] == []  # outside the policy's CIDR


def test_flows_count_only_the_selected_listener():
    from orchestrator.network.emulated.proxy import CiliumProxy

    proxy = CiliumProxy(engine=None, container_name="x-envoy", labels={}, image=None)
    before = Sample(100.0, {15000: 3, 15001: 7}, {"main": 3, "impostor": 0})
    after = Sample(101.0, {15000: 4, 15001: 9}, {"main": 4, "impostor": 0})
    proxy.samples = [before]
    proxy.sample = lambda container: after  # Envoy's counters now
    main = Route(("172.18.255.249/32",), 8083, 15000, ("main",))
    impostor = Route(("172.18.255.249/32",), 8443, 15001, ("impostor",))
    assert proxy.flows("pod", 100.0, [main]).verdicts == ("FORWARDED",)
    assert proxy.flows("pod", 100.0, [impostor]).verdicts == ("DROPPED", "DROPPED")  # refused upstream: never forwarded
    assert proxy.flows("pod", 100.0, []).count == 0


def test_a_route_comes_back_from_the_instance_record_unchanged():
    import json
    from dataclasses import asdict

    route = Route(("172.18.255.249/32",), 8443, 15001, ("internal-tls-cluster-impostor",))
    assert Route.from_record(json.loads(json.dumps(asdict(route)))) == route

"""The docker runtime: the lab without Kubernetes.

The compose stack runs on the `kind` network as it would beside a kind cluster; a client container plays
the pod; a CiliumClusterwideEnvoyConfig runs in a real Envoy sharing the client's network namespace, and a
CiliumNetworkPolicy listener redirect becomes an iptables REDIRECT in that namespace that exempts Envoy's
own traffic (what Cilium's transparent proxy does). Only the kinds a lab needs are interpreted.
"""

from __future__ import annotations

import base64
import re
import time
from functools import cached_property
from pathlib import Path

import yaml

from orchestrator.emulation import cilium
from orchestrator.errors import BadInput, RuntimeFailure
from orchestrator.providers.docker_cli import ComposeStack
from orchestrator.providers.docker import DockerEngine, FileSpec
from orchestrator.render.artifacts import COMPOSE_FILE
from orchestrator.runtimes.base import Flows, client_pod, load_docs, outside_subnets, pinned_addresses, rendered_docs
from orchestrator.spec import Lab
from orchestrator.spec.model import OWNER_LABEL

ENVOY_UID = 101
ENVOY_ADMIN_PORT = 9901
LISTENER_PORT_BASE = 15000
REDIRECT_CHAIN = "LAB_REDIRECT"
SECRET_DIR = "/etc/envoy/secrets"
KIND_SUBNET = "172.18.0.0/16"  # what kind gives its network when the range is free
KIND_ORDER = ["Namespace", "Secret", "Pod", "CiliumClusterwideEnvoyConfig", "CiliumNetworkPolicy"]


class DockerRuntime:
    name = "docker"

    def __init__(self, lab: Lab, rendered: Path, state: dict):
        self.lab = lab
        self.rendered = rendered
        self.state = state  # persisted by the lifecycle; records what this runtime created
        self.labels = lab.owner_labels()
        self._engine: DockerEngine | None = None
        self.network_name = lab.values.get("network", {}).get("name", "kind")

    @cached_property
    def docs(self) -> list[dict]:
        """The rendered manifests, read once per command (after `up` has rendered them)."""
        return rendered_docs(self.rendered)

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            self._engine = DockerEngine()
        return self._engine

    @property
    def compose(self) -> ComposeStack:
        return ComposeStack(f"lab-{self.lab.instance}", self.rendered / COMPOSE_FILE)

    def container_name(self, role: str) -> str:
        return f"lab-{self.lab.instance}-{role}"

    def _client_name(self) -> str:
        pod = client_pod(self.lab, self.docs)
        return self.container_name(pod["metadata"]["name"])

    # lifecycle
    def preflight(self) -> None:
        from orchestrator.doctor import require

        # The stack's own published ports are busy when the lab is already up: not a problem on a rerun.
        require(self.lab, self.name, lab_is_up=self.state.get("stack_up", False))

    def create_cluster(self) -> None:
        """No cluster here: only the docker network kind would have created, with kind's subnet."""
        subnet = self.lab.values.get("network", {}).get("subnet", KIND_SUBNET)
        subnets = self.engine.ensure_network(self.network_name, subnet, self.labels)
        outside = outside_subnets(pinned_addresses(self.rendered).get(self.network_name, []), subnets)
        if outside:
            raise BadInput(f"docker network {self.network_name} has subnet(s) {', '.join(subnets) or 'none'}, which do not contain "
                           f"{', '.join(outside)}; rerun with --set network.subnet=<its IPv4 subnet>")

    def stack_up(self) -> None:
        if self.lab.stack:
            self.compose.up()
            self.state["stack_up"] = True

    def reset_lab_objects(self) -> list[str]:
        """Remove what the lab's apply steps made (client, Envoy, redirect), keeping network and stack, so a
        second `up` replays every stage instead of checking a direct connection through last run's redirect."""
        removed = []
        for container in self.engine.containers(self.labels):
            if container.labels.get("lab.dev/role") in ("client", "envoy"):
                self.engine.remove(container)
                removed.append(container.name)
        return removed

    def apply(self, group: str, files: list[Path]) -> None:
        docs = load_docs(files)
        unknown = sorted({d.get("kind", "?") for d in docs} - set(KIND_ORDER))
        if unknown:
            raise BadInput(
                f"{self.lab.spec_file}: manifests.{group}: the docker runtime does not emulate {', '.join(unknown)}; "
                "run this lab with --runtime kind"
            )
        for doc in sorted(docs, key=lambda d: KIND_ORDER.index(d["kind"])):
            handler = getattr(self, "_apply_" + doc["kind"].lower())
            handler(doc)

    def _apply_namespace(self, doc: dict) -> None:
        pass  # names only; nothing to create without Kubernetes

    def _apply_secret(self, doc: dict) -> None:
        pass  # secrets are read from the rendered manifests where a Pod or the Envoy config uses them

    def _secret(self, namespace: str, name: str) -> dict:
        for doc in self.docs:
            if doc.get("kind") == "Secret" and doc["metadata"]["name"] == name and doc["metadata"].get("namespace") == namespace:
                return doc
        raise BadInput(f"Secret {namespace}/{name} is used but not among the lab's manifests")

    def _apply_pod(self, doc: dict) -> None:
        meta, spec = doc["metadata"], doc["spec"]
        if len(spec.get("containers", [])) != 1:
            raise BadInput(f"Pod {meta['name']}: the docker runtime emulates single-container pods only")
        container = spec["containers"][0]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        files: dict[str, FileSpec] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            if "secret" not in volume:
                raise BadInput(f"Pod {meta['name']}: volume {mount['name']}: the docker runtime emulates secret volumes only")
            secret = self._secret(meta["namespace"], volume["secret"]["secretName"])
            mode = volume["secret"].get("defaultMode", 0o644)
            for key, value in secret.get("data", {}).items():
                files[f"{mount['mountPath']}/{key}"] = FileSpec(base64.b64decode(value), mode)
        name = self.container_name(meta["name"])
        existing = self.engine.container(name)
        if existing is not None:
            if existing.status == "running":
                return  # converge: the pod exists
            self.engine.remove(existing)
        command = container.get("command", []) + container.get("args", [])
        self.engine.run(
            name, container["image"], command, labels={**self.labels, "lab.dev/role": "client"}, files=files,
            network=self.network_name, cap_add=["NET_ADMIN"],  # NET_ADMIN: the emulated CNP redirect lives here
        )

    def _listener_ports(self) -> dict[str, int]:
        """Stand-in for the proxy ports Cilium allocates: one per listener of every CCEC, in render order."""
        ports, index = {}, 0
        for doc in self.docs:
            if doc.get("kind") == "CiliumClusterwideEnvoyConfig":
                for resource in doc["spec"].get("resources", []):
                    if resource.get("@type") == cilium.LISTENER_TYPE:
                        ports[resource["name"]] = LISTENER_PORT_BASE + index
                        index += 1
        return ports

    def _apply_ciliumclusterwideenvoyconfig(self, doc: dict) -> None:
        secrets = cilium.sds_secrets([d for d in self.docs if d.get("kind") == "Secret"])
        bootstrap = cilium.envoy_bootstrap(doc, self._listener_ports(), secrets, SECRET_DIR, ENVOY_ADMIN_PORT)
        files = {"/etc/envoy/envoy.yaml": FileSpec(yaml.safe_dump(bootstrap, sort_keys=False).encode(), 0o444)}
        for path, content in cilium.secret_files(secrets, SECRET_DIR).items():
            files[path] = FileSpec(content, 0o400, ENVOY_UID, ENVOY_UID)  # readable by Envoy's uid only
        name = self.container_name("envoy")
        existing = self.engine.container(name)
        if existing is not None:
            self.engine.remove(existing)  # a changed config means a new Envoy, as Cilium would reload it
        self.engine.run(
            name, self.lab.images["envoy"], ["envoy", "-c", "/etc/envoy/envoy.yaml", "--disable-hot-restart", "-l", "info"],
            labels={**self.labels, "lab.dev/role": "envoy"}, files=files,
            network_mode=f"container:{self._client_name()}", user=str(ENVOY_UID),
        )
        self._wait_envoy_ready(name, timeout=30)

    def _wait_envoy_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.engine.wait_running(name, 5)
            code, out, _ = self.exec_client(["curl", "-s", "--max-time", "2", f"http://127.0.0.1:{ENVOY_ADMIN_PORT}/ready"])
            if code == 0 and out.strip() == "LIVE":
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"Envoy ({name}) did not become ready within {timeout:.0f}s: {self.engine.logs(name)[-2000:]}")
            time.sleep(0.2)

    def _iptables(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        code, out, err = self.exec_client(["iptables", "-w", "5", *args])
        if check and code != 0:
            raise RuntimeFailure(f"iptables {' '.join(args)} failed in the client: {err.strip()}")
        return code, out, err

    def _apply_ciliumnetworkpolicy(self, doc: dict) -> None:
        ports = self._listener_ports()
        rules = cilium.redirects(doc)
        self._iptables("-t", "nat", "-N", REDIRECT_CHAIN, check=False)
        self._iptables("-t", "nat", "-F", REDIRECT_CHAIN)
        if self._iptables("-t", "nat", "-C", "OUTPUT", "-j", REDIRECT_CHAIN, check=False)[0] != 0:
            self._iptables("-t", "nat", "-A", "OUTPUT", "-j", REDIRECT_CHAIN)
        for rule in rules:
            if rule.listener not in ports:
                raise BadInput(f"CiliumNetworkPolicy {rule.policy}: listener {rule.listener} is not defined by {rule.config_name}")
            for cidr in rule.cidrs:
                self._iptables(
                    "-t", "nat", "-A", REDIRECT_CHAIN, "-p", rule.protocol.lower(), "-d", cidr, "--dport", str(rule.port),
                    "-m", "owner", "!", "--uid-owner", str(ENVOY_UID), "-j", "REDIRECT", "--to-ports", str(ports[rule.listener]),
                )

    def wait(self, spec: dict) -> None:
        timeout = float(spec.get("timeout", 180))
        if spec["for"] == "pod-ready":
            name = self.container_name(spec["name"])
            self.engine.wait_running(name, timeout)
            deadline = time.monotonic() + timeout
            while self.engine.exec(name, ["true"]).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"pod {spec['name']} (container {name}) is not ready after {timeout:.0f}s")
                time.sleep(0.2)
        elif spec["for"] == "crd-established":
            pass  # the emulated Cilium kinds need no CRDs

    def exec_client(self, argv: list[str]) -> tuple[int, str, str]:
        result = self.engine.exec(self._client_name(), argv)
        return result.returncode, result.stdout, result.stderr

    def flows(self, params: dict) -> Flows:
        """Stand-in for Hubble's to-proxy flows: packets that hit the redirect rule for that address and port."""
        code, out, err = self._iptables("-t", "nat", "-L", REDIRECT_CHAIN, "-n", "-v", "-x", check=False)
        source = "iptables REDIRECT counters in the client's network namespace (docker runtime stand-in for Hubble)"
        if code != 0:
            return Flows(0, source, output=err)
        count = 0
        for line in out.splitlines():
            fields = line.split()
            if len(fields) < 9 or not fields[0].isdigit() or "REDIRECT" not in line:
                continue
            dest_ok = not params.get("toIp") or fields[8].split("/")[0] == str(params["toIp"])
            port_ok = not params.get("toPort") or re.search(rf"dpt:{params['toPort']}\b", line)
            if dest_ok and port_ok:
                count += int(fields[0])
        verdicts = ("REDIRECTED",) if count else ()
        return Flows(count, source, verdicts, output=f"$ iptables -t nat -L {REDIRECT_CHAIN} -n -v -x\n{out}")

    def collect_logs(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        written = []

        def save(name: str, text: str) -> None:
            path = dest / name
            path.write_text(text)
            written.append(path)

        if (self.rendered / COMPOSE_FILE).is_file():
            save("compose.log", self.compose.logs())
        for container in self.engine.containers(self.labels):
            save(f"{container.name}.log", self.engine.logs(container.name))
        try:
            code, out, err = self._iptables("-t", "nat", "-S", check=False)
            save("client-iptables.txt", out + err)
        except Exception as exc:  # the client may be gone; the other logs still matter
            save("client-iptables.txt", f"unavailable: {exc}")
        return written

    def down(self) -> list[str]:
        removed = []
        for container in self.engine.containers(self.labels):
            self.engine.remove(container)
            removed.append(f"container {container.name}")
        self.compose.down()
        for volume in self.engine.volumes(self.labels):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        # The network goes when no container uses it any more and a lab made it, whichever instance did:
        # the last instance down cleans up after the first.
        candidates = {n.name for n in self.engine.networks(self.labels)}
        shared = self.engine.network(self.network_name)
        if shared is not None and (shared.attrs.get("Labels") or {}).get(OWNER_LABEL) == "lab":
            candidates.add(self.network_name)
        for name in sorted(candidates):
            if self.engine.remove_network_if_unused(name):
                removed.append(f"network {name}")
        self.state.pop("stack_up", None)
        return removed

    def access_hint(self) -> str:
        return f"explore: docker exec -it {self._client_name()} sh"

    def status(self) -> list[dict]:
        return [
            {"kind": "container", "name": c.name, "status": c.status,
             "image": (c.image.tags or [c.image.short_id])[0] if c.image else "", "role": c.labels.get("lab.dev/role", c.labels.get("com.docker.compose.service", ""))}
            for c in self.engine.containers(self.labels)
        ]

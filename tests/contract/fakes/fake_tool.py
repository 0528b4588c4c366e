#!/usr/bin/env python3
"""Fake kind / helm / docker CLIs for contract tests: record argv as JSON lines, answer like the real tools.

State lives in $LAB_FAKE_DIR: calls.jsonl (every call), clusters (kind clusters), images (local images).
"""

import json
import os
import sys
from pathlib import Path

state = Path(os.environ["LAB_FAKE_DIR"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")


def lines(name):
    path = state / name
    return path.read_text().split() if path.exists() else []


def flag(name):
    return args[args.index(name) + 1] if name in args else None


def network_state():
    """absent, auto (made by kind: no user-configured IPv4 subnet) or configured (made with --subnet)."""
    return (state / "network-state").read_text().strip() if (state / "network-state").exists() else "configured"


def kubeconfig():
    """The cluster's admin kubeconfig: a real API server's when the test runs one (LAB_FAKE_KUBECONFIG)."""
    real = os.environ.get("LAB_FAKE_KUBECONFIG")
    return Path(real).read_text() if real else "apiVersion: v1\nkind: Config\n"


def containers() -> dict:
    """Containers compose made: name -> labels (as the real engine keeps what the compose file says)."""
    path = state / "containers.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_containers(found: dict) -> None:
    (state / "containers.json").write_text(json.dumps(found))


def go_template_fields(template: str, name: str, labels: dict) -> str:
    """The few docker --format fields lab asks for: {{.Names}}, {{.State}} and {{.Label "key"}}, tab-separated."""
    import re

    out = template.replace("{{.Names}}", name).replace("{{.State}}", labels.get("__state", "running"))
    return re.sub(r'\{\{\.Label "([^"]+)"\}\}', lambda m: labels.get(m.group(1), ""), out).replace("\\t", "\t")


STATIC_IP_REFUSED = ("Error response from daemon: user specified IP address is supported only when connecting to networks "
                     "with user configured subnets")


if tool == "kind":
    if args[:1] == ["version"]:
        print("kind v0.31.0 go1.24.6 linux/amd64")
    elif args[:2] == ["get", "clusters"]:
        print("\n".join(lines("clusters")) or "No kind clusters found.", file=sys.stdout if lines("clusters") else sys.stderr)
    elif args[:2] == ["create", "cluster"]:
        if not Path(flag("--config")).is_file():  # as kind: the config must open
            sys.exit(f"ERROR: failed to create cluster: error reading file: open {flag('--config')}: no such file or directory")
        (state / "kind-config.yaml").write_text(Path(flag("--config")).read_text())  # what kind was given, for the tests
        if network_state() == "absent":  # as kind v0.31: its network gets no IPv4 subnet of the user's
            (state / "network-state").write_text("auto")
        (state / "clusters").write_text("\n".join(lines("clusters") + [flag("--name")]))
        Path(flag("--kubeconfig")).write_text(kubeconfig())
        save_containers({**containers(), f"{flag('--name')}-control-plane": {"io.x-k8s.kind.cluster": flag("--name")}})  # its node
    elif args[:2] == ["export", "kubeconfig"]:
        Path(flag("--kubeconfig")).write_text(kubeconfig())
    elif args[:2] == ["delete", "cluster"]:
        (state / "clusters").write_text("\n".join(c for c in lines("clusters") if c != flag("--name")))
        save_containers({n: l for n, l in containers().items() if l.get("io.x-k8s.kind.cluster") != flag("--name")})
    elif args[:2] == ["load", "docker-image"]:
        if os.environ.get("LAB_FAKE_KIND_LOAD_FAILS") == "1":
            print("ERROR: failed to load image: content digest not found", file=sys.stderr)
            sys.exit(1)
    elif args[:2] == ["load", "image-archive"]:
        pass
    elif args[:2] == ["export", "logs"]:
        Path(args[2]).mkdir(parents=True, exist_ok=True)
    else:
        sys.exit(f"fake kind: unexpected {args}")
elif tool == "helm":
    if args[:1] == ["version"]:
        print("v3.17.3+g0000000")
    elif args[:2] == ["show", "values"]:
        print("image:\n  repository: quay.io/cilium/cilium\n  tag: v1.19.6\noperator:\n  image:\n    repository: quay.io/cilium/operator\n"
              "    tag: v1.19.6\n    suffix: ''\nenvoy:\n  image:\n    repository: quay.io/cilium/cilium-envoy\n    tag: v1.37.6-1788432471-d053be\n"
              "hubble:\n  relay:\n    image:\n      repository: quay.io/cilium/hubble-relay\n      tag: v1.19.6\n")
    elif args[:1] == ["template"]:
        if not Path(flag("--values")).is_file():
            sys.exit(f"Error: open {flag('--values')}: no such file or directory")
        print("---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: cilium}\nspec:\n  template:\n    spec:\n"
              "      initContainers: [{name: config, image: 'quay.io/cilium/cilium:v1.19.6'}]\n"
              "      containers: [{name: cilium-agent, image: 'quay.io/cilium/cilium:v1.19.6'}]\n"
              "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cilium-operator}\nspec:\n  template:\n    spec:\n"
              "      containers: [{name: operator, image: 'quay.io/cilium/operator-generic:v1.19.6'}]\n"
              "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: cilium-envoy}\nspec:\n  template:\n    spec:\n"
              "      containers: [{name: envoy, image: 'quay.io/cilium/cilium-envoy:v1.36.9'}]\n")
    elif args[:2] == ["upgrade", "--install"]:
        for i, arg in enumerate(args):  # as helm: every values file must open
            if arg == "--values" and not Path(args[i + 1]).is_file():
                sys.exit(f"Error: open {args[i + 1]}: no such file or directory")
        print(f'Release "{args[2]}" has been upgraded. Happy Helming!')
    else:
        sys.exit(f"fake helm: unexpected {args}")
elif tool == "docker":
    if args[:1] == ["version"]:
        print("28.2.2")
    elif args[:1] == ["info"]:
        asked = flag("--format") or ""
        print(os.environ.get("LAB_FAKE_CGROUP_VERSION", "2") if "CgroupVersion" in asked else "8 16777216000")
    elif args[:2] == ["compose", "version"]:
        print("2.40.3")
    elif args[:1] == ["compose"]:
        compose_file = flag("-f")
        if compose_file and not Path(compose_file).is_file():  # as the real compose: a missing file is an error
            sys.exit(f"open {compose_file}: no such file or directory")
        if "up" in args and "ipv4_address" in Path(compose_file).read_text() and network_state() != "configured":
            sys.exit(STATIC_IP_REFUSED)  # as real Docker refuses a fixed address on such a network
        project = flag("-p")
        if "up" in args:  # the project's containers exist now, with the labels the file gives them
            import yaml

            doc = yaml.safe_load(Path(compose_file).read_text())
            found = containers()
            for service, spec in (doc.get("services") or {}).items():
                labels = spec.get("labels") or {}
                found[f"{project}-{service}-1"] = {**(labels if isinstance(labels, dict) else {}), "com.docker.compose.project": project}
            save_containers(found)
        elif "down" in args:
            save_containers({n: l for n, l in containers().items() if l.get("com.docker.compose.project") != project})
        print("")
    elif args[:2] == ["ps", "-a"]:
        wanted = [f.split("=", 1)[1] for f in args if f.startswith("label=")]
        for name, labels in sorted(containers().items()):
            if all(labels.get(w.split("=", 1)[0]) == w.split("=", 1)[1] for w in wanted):
                print(go_template_fields(flag("--format") or "{{.Names}}", name, labels))
    elif args[:2] == ["image", "inspect"]:
        sys.exit(0 if args[-1] in lines("images") else 1)
    elif args[:2] == ["network", "inspect"]:
        if network_state() == "absent":
            sys.exit(f"Error response from daemon: network {args[2]} not found")
        if flag("--format") == "{{json .Labels}}":  # kind's own network carries none of the lab's labels
            labels = state / "network-labels.json"
            print(labels.read_text() if labels.exists() else "{}")
        else:
            print(" ".join(lines("network")) or "172.18.0.0/16 fc00:f853:ccd:e793::/64 ")
    elif args[:2] == ["network", "create"]:
        if network_state() != "absent":
            sys.exit(f"Error response from daemon: network with name {args[-1]} already exists")
        (state / "network-state").write_text("configured" if "--subnet" in args else "auto")
        (state / "network").write_text(flag("--subnet") or "172.18.0.0/16")
        labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
        (state / "network-labels.json").write_text(json.dumps(labels))
    elif args[:2] == ["network", "rm"]:
        (state / "network-state").write_text("absent")
        (state / "network-labels.json").unlink(missing_ok=True)
    elif args[:2] == ["run", "--rm"]:
        if "--ip" in args and network_state() == "auto":  # as Docker says when the container starts
            sys.exit("docker: " + STATIC_IP_REFUSED + ".")
    elif args[:1] == ["exec"] and os.environ.get("LAB_FAKE_NODE_PKI"):
        # A kind node: kubeadm's /etc/kubernetes/pki is the real control plane's PKI the test runs.
        pki, command = Path(os.environ["LAB_FAKE_NODE_PKI"]), args[2:]
        if command[:1] == ["cat"] and command[1].startswith("/etc/kubernetes/pki/"):
            source = pki / command[1][len("/etc/kubernetes/pki/"):]
            if not source.is_file():
                sys.exit(f"cat: {command[1]}: No such file or directory")
            sys.stdout.write(source.read_text())
        elif command[:2] == ["find", "/etc/kubernetes/pki"]:
            print("\n".join(f"/etc/kubernetes/pki/{p.name}" for p in sorted(pki.glob("*.crt"))))
        elif command == ["kubeadm", "certs", "check-expiration"]:
            print("CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED")
            for name in sorted(p.stem for p in pki.glob("*.crt") if p.stem != "ca"):
                print(f"{name:<26} (from the test's control plane)  ca  no")
        else:
            sys.exit(f"fake docker exec: unexpected {command}")
    elif args[:1] == ["save"]:
        Path(flag("-o")).write_bytes(b"tar")
    else:
        sys.exit(f"fake docker: unexpected {args}")

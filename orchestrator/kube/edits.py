"""Steps that change objects the cluster already holds, as an operator repairing (or breaking) a cluster would:
a JSON patch, a Secret's keys replaced (with the lab's PKI files, or a certificate issued from the CA the Secret
itself holds), a workload restarted and waited for. Values come from the PKI or from a Secret at run time,
never from a command line, and private keys are never printed.
"""

from __future__ import annotations

import base64
import json
import datetime as dt
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from orchestrator.errors import BadInput, RuntimeFailure
from orchestrator.pki.inspect import load_pem_cert
from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, new_key
from orchestrator.pki.store import cert_pem, key_pem
from orchestrator.kube.waits import rollout_ready

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the annotation `kubectl rollout restart` sets


def _where(target: dict) -> str:
    namespace = target.get("namespace")
    return f"{target['kind']} {namespace + '/' if namespace else ''}{target['name']}"


def value_of(kube, pki: Callable[[str], bytes | None], source: dict) -> Any:
    """A patch value from the lab's PKI or from a Secret: base64 (a caBundle's form) unless `encoding: text`."""
    if "pki" in source:
        content = pki(source["pki"])
        if content is None:
            raise BadInput(f"valueFrom.pki: the lab's PKI issues no file {source['pki']}")
    else:
        ref = source["secret"]
        (content,) = kube.secret_values(ref["namespace"], ref["name"], ref["key"])
    return content.decode() if source.get("encoding") == "text" else base64.b64encode(content).decode()


def expand(doc: Any, path: str) -> list[str]:
    """A JSON pointer where `*` stands for every element of an array (or every key of a mapping) of the live
    object: `/webhooks/*/clientConfig/caBundle` is one pointer per webhook."""
    parts = path.split("/")[1:]

    def walk(node: Any, done: list[str], rest: list[str]) -> list[str]:
        if not rest:
            return ["/" + "/".join(done)]
        head, tail = rest[0], rest[1:]
        if head != "*":
            child = node[int(head)] if isinstance(node, list) and head.isdigit() else (node.get(head) if isinstance(node, dict) else None)
            return walk(child, done + [head], tail)
        if isinstance(node, list):
            return [p for i, item in enumerate(node) for p in walk(item, done + [str(i)], tail)]
        if isinstance(node, dict):
            return [p for key, item in node.items() for p in walk(item, done + [key], tail)]
        return []

    return walk(doc, [], parts) if "*" in parts else [path]


def patch(kube, pki: Callable[[str], bytes | None], targets: list[dict]) -> list[str]:
    """JSON patches (RFC 6902), sent as such to the API server; returns what was patched."""
    done = []
    for target in targets:
        live = kube.get(target["apiVersion"], target["kind"], target["name"], target.get("namespace"))
        ops = []
        for op in target["ops"]:
            paths = expand(live, op["path"])
            if not paths:
                raise RuntimeFailure(f"patch {_where(target)}: {op['path']} matches nothing in the object")
            value = value_of(kube, pki, op["valueFrom"]) if "valueFrom" in op else op.get("value")
            for path in paths:
                ops.append({"op": op["op"], "path": path, **({"value": value} if op["op"] in ("add", "replace", "test") else {})})
        kube.patch(target["apiVersion"], target["kind"], target["name"], target.get("namespace"), ops, "application/json-patch+json")
        done.append(f"{_where(target)}: {len(ops)} operation(s)")
    return done


def issue_from_secret(kube, spec: dict) -> tuple[bytes, bytes]:
    """A server certificate issued by the CA a Secret holds (its ca.crt and ca.key, by default), the way the seed
    repaired MetalLB's webhook: (certificate PEM, key PEM)."""
    issue = spec["issue"]
    ca_keys = issue.get("ca", {"cert": "ca.crt", "key": "ca.key"})
    cert_pem_bytes, key_pem_bytes = kube.secret_values(spec["namespace"], spec["name"], ca_keys["cert"], ca_keys["key"])
    ca_cert, ca_key = load_pem_cert(cert_pem_bytes), serialization.load_pem_private_key(key_pem_bytes, None)
    key = new_key(issue.get("algorithm", "rsa-2048"))
    now = dt.datetime.now(dt.timezone.utc)
    cert = issue_leaf(key, build_name(issue["cn"], tuple((k, v) for k, v in (issue.get("subject") or {}).items())),
                      Validity.days_from(now, int(issue.get("days", 365))), Issuer(ca_key, ca_cert), usage="server",
                      dns=tuple(issue.get("dns", ())), ips=tuple(issue.get("ip", ())))
    return cert_pem(cert), key_pem(key)


def update_secret(kube, pki: Callable[[str], bytes | None], spec: dict) -> list[str]:
    """Replace keys of an existing Secret (the other keys stay): from the PKI (`set`), or a certificate and key
    issued from the Secret's own CA (`issue`)."""
    data: dict[str, bytes] = {}
    for key, source in (spec.get("set") or {}).items():
        content = pki(source["pki"])
        if content is None:
            raise BadInput(f"secret.set.{key}: the lab's PKI issues no file {source['pki']}")
        data[key] = content
    if spec.get("issue"):
        cert, key = issue_from_secret(kube, spec)
        data[spec["issue"].get("certKey", "tls.crt")] = cert
        data[spec["issue"].get("keyKey", "tls.key")] = key
    body = {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    kube.patch("v1", "Secret", spec["name"], spec["namespace"], body, "application/merge-patch+json")
    return sorted(data)


def restart(kube, spec: dict) -> None:
    """`kubectl rollout restart`, then `kubectl rollout status`: new pods replace the old ones and are available."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    kube.patch("apps/v1", spec["kind"], spec["name"], spec["namespace"], body, "application/strategic-merge-patch+json")
    kube.wait_for(f"{spec['kind']} {spec['namespace']}/{spec['name']} rolled out after the restart", "apps/v1", spec["kind"],
                  spec["name"], spec["namespace"], lambda obj: rollout_ready(obj, {}), float(spec.get("timeout", 180)))


def restart_by_hand(edit: dict) -> list[str]:
    """What a participant would type to restart a workload and wait for it."""
    ns = edit["namespace"]
    return [f"kubectl -n {ns} rollout restart {edit['kind'].lower()}/{edit['name']}",
            f"kubectl -n {ns} rollout status {edit['kind'].lower()}/{edit['name']}"]


def secret_by_hand(edit: dict) -> list[str]:
    """What a participant would type to replace a Secret's keys (issuing from the Secret's own CA when asked)."""
    where = f"-n {edit['namespace']} secret {edit['name']}"
    lines = []
    if edit.get("issue"):
        issue = edit["issue"]
        sans = ",".join([f"DNS:{d}" for d in issue.get("dns", [])] + [f"IP:{i}" for i in issue.get("ip", [])])
        lines += [f"kubectl get {where} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d > ca.crt",
                  f"kubectl get {where} -o jsonpath='{{.data.ca\\.key}}' | base64 -d > ca.key",
                  f"openssl req -new -nodes -newkey rsa:2048 -keyout server.key -subj '/CN={issue['cn']}' -out server.csr",
                  f"openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days {issue.get('days', 365)} "
                  f"-extfile <(printf 'subjectAltName={sans}\\nextendedKeyUsage=serverAuth') -out server.crt",
                  "openssl verify -CAfile ca.crt server.crt"]
        files = {issue.get("certKey", "tls.crt"): "server.crt", issue.get("keyKey", "tls.key"): "server.key"}
    else:
        files = {key: f'"$LAB_PKI"/{source["pki"]}' for key, source in (edit.get("set") or {}).items()}
    patch_body = ", ".join(f'"{key}": "\'$(base64 -w0 {path})\'"' for key, path in files.items())
    return lines + [f"kubectl patch {where} --type merge -p '{{\"data\": {{{patch_body}}}}}'"]


def patch_by_hand(targets: list[dict], docs: list[dict]) -> list[str]:
    """What a participant would type for the same JSON patches: one `kubectl patch` per object with every
    operation, a path with `*` expanded over the object as the lab's manifests make it (as `patch` expands it
    over the live one)."""
    lines = []
    for target in targets:
        ns = f" -n {target['namespace']}" if target.get("namespace") else ""
        made = next((d for d in docs if d.get("kind") == target["kind"] and d["metadata"]["name"] == target["name"]
                     and d["metadata"].get("namespace") == target.get("namespace")), None)
        ops = []
        for op in target["ops"]:
            source = op.get("valueFrom")
            if source and "pki" in source:
                value = "\"'\"$(base64 -w0 \"$LAB_PKI\"/" + source["pki"] + ")\"'\""
            elif source:
                ref = source["secret"]
                key = ref["key"].replace(".", "\\.")
                value = "\"'\"$(kubectl -n " + f"{ref['namespace']} get secret {ref['name']} -o jsonpath='{{.data.{key}}}'" + ")\"'\""
            else:
                value = json.dumps(op.get("value")).replace("'", "'\"'\"'")  # inside the single-quoted -p
            paths = expand(made, op["path"]) if made is not None and "*" in op["path"] else [op["path"]]
            ops += [f'{{"op": "{op["op"]}", "path": "{path}"' + (f', "value": {value}' if op["op"] in ("add", "replace", "test") else "") + "}"
                    for path in paths]
        lines.append(f"kubectl{ns} patch {target['kind'].lower()} {target['name']} --type json -p '[{', '.join(ops)}]'")
    return lines

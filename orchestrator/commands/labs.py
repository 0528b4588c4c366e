"""`lab list` and `lab show`: the catalog, and what one lab does."""

from __future__ import annotations

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import LabError
from orchestrator.render.engine import to_yaml
from orchestrator.spec import Lab


def list_labs(ctx: LabContext, output: str) -> None:
    """Each lab's name, title and runtimes, read from its spec as written: nothing is rendered to list them."""
    from orchestrator.spec.load import summary

    labs = []
    problems = []
    for entry in ctx.catalog.entries():
        try:
            labs.append({**summary(entry, ctx.checks, ctx.waits, ctx.runtimes.names()), "path": str(entry.directory)})
        except LabError as exc:  # a broken lab must not hide the others
            problems.append({"name": entry.name, "error": exc.message.splitlines()[0][:300]})
    if output == "json":
        ctx.ui.json({"labs": labs, "invalid": problems})
        return
    ctx.ui.table(["name", "title", "runtimes"], [[l["name"], l["title"], ", ".join(l["runtimes"])] for l in labs])
    for p in problems:
        ctx.ui.error(f"warning: lab {p['name']} is invalid: {p['error']} (run `lab show {p['name']}`)")


def describe(lab: Lab) -> dict:
    steps = []
    for step in lab.steps:
        item = {"name": step.name, "kind": step.kind, "description": step.description}
        if step.apply:
            item["apply"] = {"group": step.apply, "templates": [e if isinstance(e, str) else f"{e.artifact} ({lab.artifacts[e.artifact].url})"
                                                                for e in lab.manifests[step.apply]]}
            omitted = [{"kind": o.kind, "name": o.name, "runtimes": list(o.runtimes), "why": o.why}
                       for group, o in lab.omissions() if group == step.apply]
            if omitted:
                item["apply"]["omitted"] = omitted
        if step.edit is not None:
            item[step.kind] = step.edit
        if step.wait:
            item["wait"] = {"for": step.wait.kind, **step.wait.params, "timeout": step.wait.timeout}
        if step.user:
            u = step.user
            item["user"] = {"name": u.name, "cn": u.cn, "groups": list(u.groups), "via": u.via,
                            **({"expirationSeconds": u.expiration_seconds} if u.via == "csr" else {"days": u.days})}
        if step.check:
            c = step.check
            item["check"] = {"type": c.type, **c.params, "expect": c.expect, "timeout": c.timeout, "interval": c.interval}
            if c.runtimes:
                item["check"]["runtimes"] = list(c.runtimes)
            if c.source:
                item["check"]["from"] = str(c.source)
        if step.runtimes:
            item["runtimes"] = list(step.runtimes)
        steps.append(item)
    certs = []
    if lab.pki:
        certs.append({"name": "ca", "usage": "root CA", "cn": lab.pki.root.cn, "days": lab.pki.root.days, "key": lab.pki.root.algorithm})
        certs.append({"name": "intermediate", "usage": "intermediate CA (pathlen 0)", "cn": lab.pki.intermediate.cn,
                      "days": lab.pki.intermediate.days, "key": lab.pki.intermediate.algorithm})
        for c in lab.pki.certificates.values():
            certs.append({"name": c.name, "usage": c.usage + (", self-signed" if c.self_signed else ""), "cn": c.cn, "dns": list(c.dns), "ip": list(c.ip),
                          "days": c.days, "key": c.algorithm})
    return {
        "name": lab.name,
        "title": lab.title,
        "instance": lab.instance,
        "description": lab.description,
        "source": lab.source,
        "runtimes": list(lab.runtimes),
        "versions": lab.versions,
        "images": lab.images,
        "imageRoles": {role: list(keys) for role, keys in lab.image_roles.items()},
        "network": {"name": lab.network.name, "subnet": lab.network.subnet},
        "charts": [{"release": c.release, "chart": c.chart, "version": c.version, "namespace": c.namespace, "repo": c.repo,
                    "wait": [{"for": w.kind, **w.params} for w in c.waits]} for c in lab.charts],
        "values": lab.values,
        "certificates": certs,
        "steps": steps,
    }


def show_lab(ctx: LabContext, name: str, overrides: Overrides, output: str) -> None:
    lab = ctx.load(name, overrides)
    data = describe(lab)
    if output == "json":
        ctx.ui.json(data)
        return
    ui = ctx.ui
    ui.line(f"{lab.name}: {lab.title}")
    if lab.description:
        ui.line()
        ui.line(lab.description)
    if lab.source:
        ui.line()
        ui.line("Source: " + ", ".join(f"{k} {v}" for k, v in lab.source.items()))
    ui.line()
    ui.line(f"Runtimes: {', '.join(lab.runtimes)}")
    ui.line()
    ui.table(["version", "pinned"], sorted(lab.versions.items()), title="Versions")
    ui.table(["image", "reference (override with --set images.NAME=...)"], sorted(lab.images.items()), title="Images")
    ui.line("Values (override with --set key=value or -f values.yaml):")
    ui.line("  " + to_yaml(lab.values, 2))
    if data["certificates"]:
        ui.table(["name", "usage", "cn", "sans", "days", "key"],
                 [[c["name"], c["usage"], c["cn"], ", ".join(c.get("dns", []) + c.get("ip", [])), c["days"], c["key"]]
                  for c in data["certificates"]], title="Certificates")
    rows = []
    for s in data["steps"]:
        if "check" in s:
            what = f"{s['check']['type']} check" + (f" from {s['check']['from']}" if s["check"].get("from") else "") + f", expect {s['check']['expect']}"
        elif "apply" in s:
            what = f"apply {s['apply']['group']}: {', '.join(s['apply']['templates'])}"
        elif "patch" in s:
            what = "; ".join(f"JSON patch {t['kind']} {t['name']}: " + ", ".join(f"{o['op']} {o['path']}" for o in t["ops"]) for t in s["patch"])
        elif "secret" in s:
            sec = s["secret"]
            what = f"Secret {sec['namespace']}/{sec['name']}: " + ", ".join(
                [f"{k} from the PKI's {v['pki']}" for k, v in (sec.get("set") or {}).items()]
                + ([f"a certificate for {', '.join(sec['issue'].get('dns', []) or [sec['issue']['cn']])} issued by the Secret's own CA"]
                   if sec.get("issue") else []))
        elif "upgrade" in s:
            u = s["upgrade"]
            chart = lab.chart(u["release"])
            what = f"helm upgrade {chart.release} with {u['values']} over its values"
            if chart.emulate:
                what += f" (docker runtime: applies the rendered chart's {', '.join(k for _, k in chart.emulate)} only)"
        elif "restart" in s:
            r = s["restart"]
            what = f"rollout restart {r['kind']} {r['namespace']}/{r['name']}, and wait for it"
        elif "user" in s:
            u = s["user"]
            what = f"user {u['name']} (CN={u['cn']}" + "".join(f", O={g}" for g in u["groups"]) + f") signed via {u['via']}"
        else:
            what = f"wait for {s['wait']['for']} {s['wait'].get('namespace', '') + '/' if s['wait'].get('namespace') else ''}{s['wait'].get('name', '')}"
        if s.get("check", {}).get("runtimes") or s.get("runtimes"):
            what += f" (on {', '.join(s.get('runtimes') or s['check']['runtimes'])} only)"
        for o in s.get("apply", {}).get("omitted", []):
            what += f"; without {o['kind']} {o['name']} on {', '.join(o['runtimes'])}: {o['why']}"
        rows.append([s["name"], s["kind"], s["description"], what])
    if lab.charts:
        ui.table(["release", "chart", "version", "namespace", "ready when"],
                 [[c["release"], c["chart"], c["version"], c["namespace"], ", ".join(f"{w['for']} {w.get('name', '')}".strip() for w in c["wait"])]
                  for c in data["charts"]], title="Charts (kind runtime)")
    ui.table(["step", "kind", "why", "what"], rows, title="Steps")
    if "docker" in lab.runtimes and "proxy" in lab.image_roles and "datapath" not in lab.image_roles:
        ui.line("In the docker runtime, pods run as containers, a CiliumClusterwideEnvoyConfig runs in a real Envoy in the")
        ui.line("redirected pod's network namespace, a CiliumNetworkPolicy listener redirect is an iptables rule there, and")
        ui.line("Hubble's flows are read from Envoy's connection counters.")
    if "docker" in lab.runtimes and "datapath" in lab.image_roles:
        ui.line("In the docker runtime, a CiliumNetworkPolicy's ingress rules are enforced in each selected pod's network")
        ui.line("namespace: fromEndpoints resolved to the pods' IPs, allowed TCP ports accepted and the rest dropped by iptables")
        ui.line("(run from the datapath image), HTTP rules by a real Envoy answering 403 Access denied; Hubble's flows are the")
        ui.line("drop rules' counters and Envoy's access log. Other policy features are refused by name.")

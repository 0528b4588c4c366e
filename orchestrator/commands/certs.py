"""`lab certs`: issue a lab's PKI, show a certificate, verify every chain."""

from __future__ import annotations

from pathlib import Path

from orchestrator.context import LabContext, Overrides
from orchestrator.errors import BadInput, ChecksFailed
from orchestrator.files import writable_folder
from orchestrator.pki.inspect import load_certs, summarize_file, verify_pki
from orchestrator.pki.manager import CertAction, PkiManager
from orchestrator.pki.store import PkiStore
from orchestrator.spec import Lab


def issue_certs(ctx: LabContext, name: str, overrides: Overrides, pki: Path | None, force: bool) -> tuple[Lab, Path, list[CertAction]]:
    lab = ctx.load(name, overrides)
    directory = writable_folder(ctx.pki_dir(lab, pki), "--pki")
    if lab.pki is None:
        return lab, directory, []
    store = PkiStore(directory, staged=True)
    actions = PkiManager(lab.pki, store).ensure(force=force)
    store.commit()  # under the folder's lock; refused if another command issued meanwhile (two PKIs mixed)
    return lab, directory, actions


def certs_command(ctx: LabContext, name: str, overrides: Overrides, pki: Path | None, force: bool, output: str = "table") -> None:
    lab, directory, actions = issue_certs(ctx, name, overrides, pki, force)
    if output == "json":
        ctx.ui.json({"lab": lab.name, "pki": str(directory) if lab.pki else None,
                     "certificates": [{"name": a.name, "action": a.action, "reason": a.reason} for a in actions]})
    elif lab.pki is None:
        ctx.ui.line(f"lab {lab.name} declares no PKI: nothing to issue")
    else:
        ctx.ui.table(["certificate", "action", "reason"], [[a.name, a.action, a.reason] for a in actions])
        ctx.ui.line(f"PKI in {directory}")


CERT_FILES = (".crt", ".pem", ".cer", ".der")


def _certificate_files(path: Path) -> list[Path]:
    """PATH itself, or every certificate file of a folder (by name, in order; keys are never read)."""
    if not path.is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if p.suffix in CERT_FILES and p.is_file() and not p.is_symlink())
    if not found:
        raise BadInput(f"{path}: no certificate files ({', '.join(CERT_FILES)}) in this folder")
    return found


def show_cert(ctx: LabContext, path: Path, output: str) -> None:
    summaries, shown = [], []
    for file in _certificate_files(path):
        for i, cert in enumerate(load_certs(file)):
            summaries.append({"file": str(file), **summarize_file(file, cert, i)})
            shown.append(file)
    if output == "json":
        ctx.ui.json(summaries)
        return
    for i, s in enumerate(summaries):
        if i:
            ctx.ui.line()
        if len(summaries) > 1:
            ctx.ui.line(f"[{i}] {s['file']}")
        basic = "CA:TRUE" + (f", pathlen:{s['path_length']}" if s["path_length"] is not None else "") if s["ca"] else "CA:FALSE"
        rows = [
            ("Subject", s["subject"]),
            ("Issuer", s["issuer"]),
            ("Serial", s["serial"]),
            ("Not before", s["not_before"]),
            ("Not after", f"{s['not_after']} ({s['days_left']} days left)" if s["days_left"] >= 0 else f"{s['not_after']} (EXPIRED)"),
            ("Key", s["key"]),
            ("SANs", ", ".join([f"DNS:{d}" for d in s["dns_names"]] + [f"IP:{a}" for a in s["ip_addresses"]]) or "-"),
            ("Key usage", ", ".join(s["key_usage"]) + (" (critical)" if s["key_usage_critical"] else "") or "-"),
            ("Extended key usage", ", ".join(s["extended_key_usage"]) or "-"),
            ("Basic constraints", basic),
            ("SHA-256", s["sha256"]),
        ]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            ctx.ui.line(f"{key.ljust(width)}  {value}")


def verify_certs(ctx: LabContext, name: str, overrides: Overrides, pki: Path | None, output: str) -> None:
    lab = ctx.load(name, overrides)
    if lab.pki is None:
        ctx.ui.json([]) if output == "json" else ctx.ui.line(f"lab {lab.name} declares no PKI: nothing to verify")
        return
    directory = ctx.pki_dir(lab, pki)
    results = verify_pki(lab.pki, PkiStore(directory))
    if output == "json":
        ctx.ui.json([{**r.__dict__, "not_after": r.not_after.isoformat()} for r in results])
    else:
        ctx.ui.table(
            ["certificate", "kind", "cn", "expires", "residual time", "status"],
            [[r.name, r.kind, r.subject_cn, r.not_after.strftime("%b %d, %Y %H:%M UTC") if r.subject_cn else "-",
              f"{r.days_left}d" if r.subject_cn else "-", "ok" if r.ok else f"FAIL: {r.detail}"] for r in results],
        )
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise ChecksFailed(f"certificate verification failed for: {', '.join(failed)} (in {directory})")

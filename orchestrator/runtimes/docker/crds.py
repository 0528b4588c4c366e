"""The CRDs a lab's charts would have installed (Cilium's, cert-manager's), registered by the docker runtime
itself from the pinned upstream files, as early as the booting API server takes them."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from orchestrator.kube import apply as kube_apply
from orchestrator.spec.model import Wait
from orchestrator.spec.yamlio import load_all

# What a serving but booting API server may answer a write it will take once ready: not served yet, too busy,
# its storage not ready.
BOOTING_STATUSES = {404, 429, 500, 503}


class EmulatedCrds:
    def __init__(self, kube: Callable[[], object]):
        self.kube = kube  # the runtime's API client, made when first needed
        self.kinds: set[tuple[str, str]] = set()  # (group, kind) of the CRDs registered
        self.established: Future | None = None  # their Established wait, joined by the first apply needing them

    @staticmethod
    def documents(lab) -> list[dict]:
        """What the lab's charts would have installed first: their CRDs (the real files, pinned)."""
        from orchestrator.upstream import fetch

        return [doc for name in lab.emulated_crds  # libyaml's parser: the CNP CRD alone is 400 kB
                for doc in load_all(fetch(name, lab.artifacts[name].url, lab.artifacts[name].sha256)) if doc]

    def apply(self, crds: list[dict], booted: threading.Event) -> None:
        """The emulated CRDs by server-side apply at their path, as soon as the API server serves. Until it is
        ready (`booted`), a status its boot explains is tried again; any other is the server refusing the CRD,
        raised with its message, as an apply through discovery would be."""
        from orchestrator.providers.kube import refusal

        for doc in crds:
            name = doc["metadata"]["name"]
            while True:
                ready = booted.is_set()  # before the request: an answer to one sent while booting may arrive after
                status, answer = self.kube().apply_at(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", doc)
                if status < 300:
                    break
                if status not in BOOTING_STATUSES or ready:
                    raise refusal(f"apply CustomResourceDefinition {name}", status, answer)
                booted.wait(0.1)

    def register(self, crds: list[dict], emulated: list[dict]) -> None:
        """After the CRDs (apply), the other objects the charts would have made. A new CRD is Established a second
        or so later (the API server builds its OpenAPI first); that wait runs beside the rest and is joined by the
        first apply of an object of those kinds (join_for)."""
        from orchestrator.kube.waits import default_waits

        crd_wait = default_waits().get("crd-established")
        self.kinds = {(doc["spec"]["group"], doc["spec"]["names"]["kind"]) for doc in crds}

        def established() -> None:
            for doc in crds:
                kube_apply.wait(self.kube(), Wait("crd-established", {"name": doc["metadata"]["name"]}, 60), crd_wait)

        waiter = ThreadPoolExecutor(1)
        self.established = waiter.submit(established)
        waiter.shutdown(wait=False)
        self.join_for(emulated)
        for doc in emulated:
            self.kube().apply(doc)

    def join_for(self, docs: list[dict]) -> None:
        """Wait until the emulated CRDs are Established when any of these objects is of their kinds."""
        pending = self.established
        if pending is not None and any((d.get("apiVersion", "").rpartition("/")[0], d.get("kind")) in self.kinds for d in docs):
            pending.result()

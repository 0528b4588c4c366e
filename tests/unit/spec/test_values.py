"""Overrides over a lab's values: an images file serves many labs, so one that names none of this lab's images
changes nothing, and the lab's own image defaults (templated with its versions) still render."""

from __future__ import annotations

from orchestrator.spec.values import apply_overrides

DEFAULTS = {"images": {"kubeApiserver": "registry.k8s.io/kube-apiserver:{{ versions.kubernetes }}", "client": "curlimages/curl:8"}}


def test_an_images_file_with_none_of_the_labs_keys_gives_nothing(tmp_path):
    other = tmp_path / "images.yaml"
    other.write_text("images: {metallbController: lab.local/metallb:test}\n")
    merged = apply_overrides(DEFAULTS, [], [], [other])
    assert merged.values == DEFAULTS
    assert merged.origin_of(("images", "kubeApiserver")) is None  # still the lab's own: rendered with its versions


def test_an_images_file_gives_the_keys_the_lab_has(tmp_path):
    mine = tmp_path / "images.yaml"
    mine.write_text("images: {client: lab.local/curl:test, metallbController: lab.local/metallb:test}\n")
    merged = apply_overrides(DEFAULTS, [], [], [mine])
    assert merged.values["images"] == {**DEFAULTS["images"], "client": "lab.local/curl:test"}
    assert merged.origin_of(("images", "client")) == str(mine) and merged.origin_of(("images", "kubeApiserver")) is None

"""A participant's walkthrough of a lab, built from the same definitions the runtime executes: each step's
story, the objects it applies and the rendered file to read, the commands to do it by hand (the wait kind's
`kubectl`, the check kind's own command lines run in the pod), what each check expects, and, after `up` or
`verify`, what was seen.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput
from orchestrator.lifecycle.steps.base import ByHand
from orchestrator.render.artifacts import COMPOSE_FILE, KIND_CONFIG, Rendered, chart_values_file
from orchestrator.render.compose import compose_project
from orchestrator.kube.objects import resolve_pod
from orchestrator.spec.model import Chart, Lab, PodRef, Step

TEXT = {
    "en": {"source": "Where it comes from", "prerequisites": "Before you start", "topology": "Topology", "steps": "Steps",
           "objects": "Objects applied", "file": "rendered file", "by_hand": "By hand", "expected": "Expected",
           "result": "Result", "passed": "passed", "failed": "failed", "not_run": "not run", "seen": "seen",
           "render_first": "The files below are in the rendered folder: `lab render {lab} --out rendered`.",
           "no_dot": "Graphviz (`dot`) is not installed: the picture is the DOT source below; draw it with `dot -Tsvg topology.dot -o topology.svg` (Debian: apt install graphviz).",
           "results_from": "Results of `lab {command}` on the {runtime} runtime, {at}.", "runtime_label": "runtime",
           "stage": "Stage", "you_should_see": "You should see", "check_it": "When you have done it, check it", "hint": "If it fails",
           "setup": "The cluster, its charts and the compose stack, as `lab up` makes them on kind.",
           "step_kinds": {"setup": "setup", "apply": "apply", "wait": "wait", "check": "check", "user": "user", "patch": "patch",
                          "secret": "secret", "restart": "restart", "upgrade": "upgrade"}},
    "ko": {"source": "출처", "prerequisites": "준비", "topology": "토폴로지", "steps": "단계", "objects": "적용되는 오브젝트",
           "file": "렌더링된 파일", "by_hand": "직접 해 보기", "expected": "기대 결과", "result": "결과", "passed": "통과",
           "failed": "실패", "not_run": "실행 안 됨", "seen": "관찰", "render_first": "아래 파일은 렌더링 폴더에 있습니다: `lab render {lab} --out rendered`.",
           "no_dot": "Graphviz(`dot`)가 없어 그림 대신 DOT 소스를 보여 줍니다: `dot -Tsvg topology.dot -o topology.svg` (Debian: apt install graphviz).",
           "results_from": "{runtime} 런타임에서 `lab {command}` 결과, {at}.", "runtime_label": "런타임",
           "stage": "스테이지", "you_should_see": "이렇게 보여야 합니다", "check_it": "직접 한 뒤 확인하기", "hint": "실패하면",
           "setup": "`lab up`이 kind에서 만드는 것처럼 클러스터, 차트, compose 스택을 준비합니다.",
           "step_kinds": {"setup": "준비", "apply": "적용", "wait": "대기", "check": "검증", "user": "사용자", "patch": "패치",
                          "secret": "시크릿", "restart": "재시작", "upgrade": "업그레이드"}},
}


def language_of(lab: Lab) -> str:
    """The language of the lab's own text: Korean when its title and description are mostly Hangul."""
    text = f"{lab.title} {lab.description}"
    hangul = len(re.findall(r"[\uac00-\ud7a3]", text))
    letters = len(re.findall(r"[A-Za-z\uac00-\ud7a3]", text)) or 1
    return "ko" if hangul / letters > 0.3 else "en"


@dataclass
class CheckView:
    type: str
    expected: list[str]
    result: dict[str, Any] | None = None  # from the last report: status, seen, message, seconds


@dataclass
class StageView:
    """Where a stage begins in the walkthrough: the author's words, what to see, and how to check it."""

    name: str
    title: str
    why: str
    sample: str
    check: str  # the command that checks it (`lab check LAB STAGE`)


@dataclass
class StepView:
    number: int
    name: str
    kind: str
    description: str
    objects: list[tuple[str, str]] = field(default_factory=list)  # (kind/name, rendered file)
    commands: list[str] = field(default_factory=list)
    check: CheckView | None = None
    stage: StageView | None = None  # set on a stage's first step
    hint: str = ""


def _shell(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _exec_prefix(lab: Lab, rendered: Rendered, source: PodRef | None) -> list[str]:
    try:
        pod = resolve_pod(source, rendered.docs())
    except BadInput:  # a lab `up` would refuse for it (it says why); the walkthrough still shows the command
        return ["kubectl", "exec", "POD", "--"]
    meta = pod["metadata"]
    namespace = meta.get("namespace", "default")
    if meta["name"]:
        return ["kubectl", "exec", "-n", namespace, meta["name"], "--"]
    selector = source.selector if source and source.selector else ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items())
    return ["kubectl", "exec", "-n", namespace, f"$(kubectl get pod -n {namespace} -l {selector} -o name | head -1)", "--"]


RENDERED = Path("rendered")  # where `lab render LAB --out rendered` puts the files the commands name


def _chart_ref(lab: Lab, chart: Chart):
    """The chart as a participant installs it: the pinned archive by its URL, else by name, version and repository."""
    from orchestrator.providers.helm import ChartRef

    return ChartRef(lab.artifacts[chart.artifact].url) if chart.artifact else ChartRef(chart.chart, chart.version, chart.repo)


def setup_view(lab: Lab, rendered: Rendered, waits, lang: str) -> StepView:
    """Step 0: what the runtime does before the lab's steps, with the argv the providers run."""
    from orchestrator.providers.docker_cli import ComposeStack
    from orchestrator.providers.helm import HelmCli
    from orchestrator.providers.kind import KindCli

    view = StepView(0, "setup", "setup", TEXT[lang]["setup"])
    if KIND_CONFIG in rendered.files:
        view.commands.append(_shell(KindCli.create_argv(lab.instance, RENDERED / KIND_CONFIG)))
    for chart in lab.charts:
        view.commands.append(_shell(HelmCli.upgrade_install_argv(release=chart.release, chart=_chart_ref(lab, chart), namespace=chart.namespace,
                                                                  values=RENDERED / chart_values_file(chart))))
        view.commands += [_shell(waits.get(w.kind).kubectl(w.params, w.timeout)) for w in chart.waits]
    if COMPOSE_FILE in rendered.files:
        view.commands.append(_shell(ComposeStack(compose_project(lab.instance), RENDERED / COMPOSE_FILE).up_argv()))
    return view


def step_view(number: int, step: Step, lab: Lab, rendered: Rendered, checks, waits, kinds) -> StepView:
    """A step as a participant does it: what its kind says to type, the objects it makes, what a check expects."""
    hand = ByHand(lab, rendered, checks, waits, _shell, lambda source: _exec_prefix(lab, rendered, source), lambda chart: _chart_ref(lab, chart),
                  RENDERED)
    kinds.get(step.kind).by_hand(step, hand)
    view = StepView(number, step.name, step.kind, step.description.strip(), hand.objects, hand.commands, hint=step.hint)
    if step.check is not None:
        view.check = CheckView(step.check.type, checks.get(step.check.type).expectations(step.check.expect))
    return view


def walkthrough(lab: Lab, rendered: Rendered, checks, waits, kinds, report: dict | None = None, lang: str = "en") -> list[StepView]:
    by_name = {c["name"]: c for c in (report or {}).get("checks", [])}
    views = [setup_view(lab, rendered, waits, lang)]
    starts = {stage.steps[0].name: stage for stage in lab.stages}
    for number, step in enumerate(lab.steps, 1):
        view = step_view(number, step, lab, rendered, checks, waits, kinds)
        stage = starts.get(step.name)
        if stage is not None:
            view.stage = StageView(stage.name, stage.title or stage.name, stage.why, stage.sample, _shell(["lab", "check", lab.instance, stage.name]))
        if view.check is not None and report is not None:
            view.check.result = by_name.get(step.name, {"status": "not_run"})
        views.append(view)
    return views

"""A participant's walkthrough of a lab, built from the same definitions the runtime executes: each step's
story, the objects it applies and the rendered file to read, the commands to do it by hand (the wait kind's
`kubectl`, the check kind's own command lines run in the pod), what each check expects, and, after `up` or
`verify`, what was seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import BadInput
from orchestrator.shellenv import line
from orchestrator.lifecycle.steps.base import ByHand
from orchestrator.render.artifacts import COMPOSE_FILE, KIND_CONFIG, Rendered, chart_values_file
from orchestrator.render.compose import compose_project
from orchestrator.kube.objects import resolve_pod
from orchestrator.spec.model import Chart, Lab, PodRef, Step

TEXT = {
    "en": {"source": "Where it comes from", "prerequisites": "Before you start", "topology": "Topology", "steps": "Steps",
           "objects": "Objects applied", "file": "rendered file", "by_hand": "By hand", "expected": "Expected",
           "result": "Result", "passed": "passed", "failed": "failed", "not_run": "not run", "seen": "seen",
           "render_first": "The commands are for bash, in a shell pointed at the running lab by step 0 (`eval \"$(lab env {lab})\"`: KUBECONFIG, and $LAB_RENDERED and the other folders the commands name).",
           "no_dot": "Graphviz (`dot`) is not installed: the picture is the DOT source below; draw it with `dot -Tsvg topology.dot -o topology.svg` (Debian: apt install graphviz).",
           "results_from": "Results of `lab {command}` on the {runtime} runtime, {at}.", "runtime_label": "runtime",
           "recap": "What this lab showed", "try_this": "Try this", "cleanup": "Clean up", "cleanup_down": "Remove everything the lab made:",
           "stage": "Stage", "you_should_see": "You should see", "check_it": "When you have done it, check it", "hint": "If it fails",
           "setup": "Bring the lab up to its first stage, and point this shell at it. The comments say what `lab up` does on this runtime.",
           "step_kinds": {"setup": "setup", "apply": "apply", "wait": "wait", "check": "check", "user": "user", "patch": "patch",
                          "secret": "secret", "restart": "restart", "upgrade": "upgrade"}},
    "ko": {"source": "출처", "prerequisites": "준비", "topology": "토폴로지", "steps": "단계", "objects": "적용되는 오브젝트",
           "file": "렌더링된 파일", "by_hand": "직접 해 보기", "expected": "기대 결과", "result": "결과", "passed": "통과",
           "failed": "실패", "not_run": "실행 안 됨", "seen": "관찰", "render_first": "명령은 bash용이며, 0단계에서 실행 중인 랩을 가리키도록 한 셸에서 실행합니다 (`eval \"$(lab env {lab})\"`: KUBECONFIG와 $LAB_RENDERED 등 명령이 쓰는 폴더).",
           "no_dot": "Graphviz(`dot`)가 없어 그림 대신 DOT 소스를 보여 줍니다: `dot -Tsvg topology.dot -o topology.svg` (Debian: apt install graphviz).",
           "results_from": "{runtime} 런타임에서 `lab {command}` 결과, {at}.", "runtime_label": "런타임",
           "recap": "정리", "try_this": "더 해 보기", "cleanup": "정리하기", "cleanup_down": "랩이 만든 모든 것을 지웁니다:",
           "stage": "스테이지", "you_should_see": "이렇게 보여야 합니다", "check_it": "직접 한 뒤 확인하기", "hint": "실패하면",
           "setup": "랩을 첫 스테이지 직전까지 올리고, 이 셸이 그 랩을 가리키게 합니다. 주석은 이 런타임에서 `lab up`이 하는 일입니다.",
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


def _exec_prefix(lab: Lab, rendered: Rendered, source: PodRef | None, runtime: str) -> list[str]:
    """How a participant runs a command in the pod a check runs in: `kubectl exec` on kind; `lab exec` where pods
    are the runtime's containers (docker), by the name the lab gives the pod or its workload."""
    try:
        pod = resolve_pod(source, rendered.docs())
    except BadInput:  # a lab `up` would refuse for it (it says why); the walkthrough still shows the command
        return ["kubectl", "exec", "POD", "--"]
    meta = pod["metadata"]
    namespace = meta.get("namespace", "default")
    if runtime != "kind":
        return ["lab", "exec", lab.instance, f"{namespace}/{meta['name'] or meta['owner'].split(' ', 1)[1]}", "--"]
    if meta["name"]:
        return ["kubectl", "exec", "-n", namespace, meta["name"], "--"]
    selector = source.selector if source and source.selector else ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items())
    return ["kubectl", "exec", "-n", namespace, f"$(kubectl get pod -n {namespace} -l {selector} -o name | head -1)", "--"]


RENDERED = "$LAB_RENDERED"  # the running instance's rendered files, as `lab env` exports them


def _chart_ref(lab: Lab, chart: Chart):
    """The chart as a participant installs it: the pinned archive by its URL, else by name, version and repository."""
    from orchestrator.providers.helm import ChartRef

    return ChartRef(lab.artifacts[chart.artifact].url) if chart.artifact else ChartRef(chart.chart, chart.version, chart.repo)


def setup_view(lab: Lab, rendered: Rendered, waits, lang: str, runtime: str, up: list[str]) -> StepView:
    """Step 0: `lab up` to the first stage and `lab env`; as comments, what `lab up` does on this runtime (on
    kind, the argv its providers run)."""
    from orchestrator.providers.docker_cli import ComposeStack
    from orchestrator.providers.helm import HelmCli
    from orchestrator.providers.kind import KindCli

    view = StepView(0, "setup", "setup", TEXT[lang]["setup"])
    hand = ByHand(lab, rendered, None, waits, line, lambda source: [], lambda chart: _chart_ref(lab, chart), runtime)
    if runtime == "kind":
        did = []
        if KIND_CONFIG in rendered.files:
            did.append(line(KindCli.create_argv(lab.instance, f"{RENDERED}/{KIND_CONFIG}")))
        for chart in lab.charts:
            did.append(line(HelmCli.upgrade_install_argv(release=chart.release, chart=_chart_ref(lab, chart), namespace=chart.namespace,
                                                         values=[f"{RENDERED}/{chart_values_file(chart)}"])))
            did += [line(waits.get(w.kind).kubectl(w.params, w.timeout)) for w in chart.waits]
    else:
        did = [f"a {runtime} runtime cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler in containers, "
               "a node agent running the pods, Cilium emulated (a real Envoy, iptables for the redirect)"]
    if COMPOSE_FILE in rendered.files:
        did.append(line(ComposeStack(compose_project(lab.instance), f"{RENDERED}/{COMPOSE_FILE}").up_argv()))
    hand.note("what `lab up` does first:\n" + "\n".join(f"  {d}" for d in did))
    hand.run(up)
    hand.commands.append(f'eval "$(lab env {lab.instance})"')
    view.commands = hand.commands
    return view


def step_view(number: int, step: Step, lab: Lab, rendered: Rendered, checks, waits, kinds, runtime: str) -> StepView:
    """A step as a participant does it: what its kind says to type, the objects it makes, what a check expects."""
    hand = ByHand(lab, rendered, checks, waits, line, lambda source: _exec_prefix(lab, rendered, source, runtime),
                  lambda chart: _chart_ref(lab, chart), runtime, RENDERED)
    kinds.get(step.kind).by_hand(step, hand)
    view = StepView(number, step.name, step.kind, step.description.strip(), hand.objects, hand.commands, hint=step.hint)
    if step.check is not None:
        view.check = CheckView(step.check.type, checks.get(step.check.type).expectations(step.check.expect))
    return view


def walkthrough(lab: Lab, rendered: Rendered, checks, waits, kinds, runtime: str, up: list[str], report: dict | None = None,
                lang: str = "en") -> list[StepView]:
    """The steps as a participant on `runtime` does them, from `up` (the `lab up ... --until FIRST` to start with)."""
    by_name = {c["name"]: c for c in (report or {}).get("checks", [])}
    views = [setup_view(lab, rendered, waits, lang, runtime, up)]
    # A stage opens at its first step this runtime runs (a kind-only step is not in a docker guide).
    starts = {}
    for stage in lab.stages:
        first = next((s for s in stage.steps if s.acts_on(runtime)), None)
        if first is not None:
            starts[first.name] = stage
    for step in (s for s in lab.steps if s.acts_on(runtime)):
        view = step_view(len(views), step, lab, rendered, checks, waits, kinds, runtime)
        stage = starts.get(step.name)
        if stage is not None:
            view.stage = StageView(stage.name, stage.title or stage.name, stage.why, stage.sample, line(["lab", "check", lab.instance, stage.name]))
        if view.check is not None and report is not None:
            view.check.result = by_name.get(step.name, {"status": "not_run"})
        views.append(view)
    return views

"""`upgrade: {release, values}`: `helm upgrade` of one of the lab's charts with extra values (a template, over the
chart's own values file, as a second --values is); then the chart's waits. A new stage."""

from __future__ import annotations

from orchestrator.lifecycle.steps.base import ByHand, Plain, SpecView


def values_file(step_name: str, release: str) -> str:
    """The step's extra values, rendered beside the chart's own."""
    return f"cluster/charts/{release}.{step_name}.values.yaml"


class UpgradeStep(Plain):
    name = "upgrade"
    verb = "upgrade"
    schema = {"type": "object", "additionalProperties": False, "required": ["release", "values"],
              "properties": {"release": {"type": "string", "minLength": 1}, "values": {"type": "string", "minLength": 1}}}

    def problems(self, value, spec: SpecView) -> list[tuple[str, str]]:
        found = []
        if value["release"] not in spec.releases:
            found.append((".release", f"'{value['release']}' is not one of the lab's charts ({', '.join(spec.releases) or 'none'})"))
        if spec.template_problem(value["values"]):
            found.append((".values", f"template '{value['values']}' not found"))
        return found

    def files(self, name: str, value) -> dict[str, str]:
        return {values_file(name, value["release"]): value["values"]}

    def run(self, step, run) -> None:
        run.runtime.upgrade(run.lab.chart(step.params["release"]), run.state.rendered / values_file(step.name, step.params["release"]))

    def describe(self, step, lab) -> tuple[dict, str]:
        chart = lab.chart(step.params["release"])
        text = f"helm upgrade {chart.release} with {step.params['values']} over its values"
        if chart.emulate:
            text += f" (docker runtime: applies the rendered chart's {', '.join(k for _, k in chart.emulate)} only)"
        return step.params, text

    def by_hand(self, step, hand: ByHand) -> None:
        from orchestrator.providers.helm import HelmCli
        from orchestrator.render.artifacts import chart_values_file

        chart = hand.lab.chart(step.params["release"])
        helm = HelmCli.upgrade_install_argv(release=chart.release, chart=hand.chart_ref(chart), namespace=chart.namespace,
                                            values=[hand.rendered_path(chart_values_file(chart)), hand.rendered_path(values_file(step.name, chart.release))])
        waits = [hand.waits.get(wait.kind).kubectl(wait.params, wait.timeout) for wait in chart.waits]
        if chart.emulate and hand.runtime != "kind":
            # The chart's software cannot run here (Cilium's pods): lab applies what of it the runtime emulates.
            hand.note(f"{chart.release} cannot run on the {hand.runtime} runtime; lab applies what of the chart it emulates "
                      f"({', '.join(k for _, k in chart.emulate)}).\nOn kind you would type: {hand.shell(helm)}")
            hand.run(["lab", "solve", hand.lab.instance, "--step", step.name])
            return
        hand.run(helm)
        for wait in waits:
            hand.run(wait)

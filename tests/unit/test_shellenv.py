"""A command line as the guide prints it: every argument quoted, but the folders `lab env` exports left for the
shell to expand (and no other variable: a value a user set is the text it is)."""

from __future__ import annotations

from orchestrator.shellenv import line


def test_the_exported_folders_expand_and_nothing_else_does():
    assert line(["kubectl", "apply", "-f", "$LAB_RENDERED/manifests/a b/x.yaml"]) == 'kubectl apply -f "$LAB_RENDERED"\'/manifests/a b/x.yaml\''
    assert line(["cat", "$LAB_USERS/ringu.kubeconfig"]) == 'cat "$LAB_USERS"/ringu.kubeconfig'
    assert line(["echo", "$HOME/x", "$(rm -rf /)", "$LAB_RENDEREDX/y"]) == "echo '$HOME/x' '$(rm -rf /)' '$LAB_RENDEREDX/y'"
    assert line("kubectl get pods | wc -l") == "kubectl get pods | wc -l"  # a line written for the shell stays as it is

"""The variables `lab env` exports for a participant's shell, as the guide's commands name them: the instance's
admin kubeconfig, its rendered files, its users' keys and kubeconfigs, the lab's PKI, and (docker runtime) the cluster's PKI."""

from __future__ import annotations

import re
import shlex

KUBECONFIG = "KUBECONFIG"
RENDERED = "LAB_RENDERED"
USERS = "LAB_USERS"
CLUSTER_PKI = "LAB_CLUSTER_PKI"
PKI = "LAB_PKI"  # the lab's own PKI (certs/<instance>): its CA, its server and client certificates

# Only these: any other `$NAME` in an argument (a value a user set, say) is quoted as the text it is.
_VARIABLE_PATH = re.compile(rf"^\$({'|'.join((KUBECONFIG, RENDERED, USERS, CLUSTER_PKI, PKI))})(/.*)?$")


def word(arg) -> str:
    """One argument for a shell: quoted, except that a leading `$VARIABLE` stays one the shell expands."""
    text = str(arg)
    match = _VARIABLE_PATH.match(text)
    if match is None:
        return shlex.quote(text)
    return f'"${match.group(1)}"' + (shlex.quote(match.group(2)) if match.group(2) else "")


def line(argv) -> str:
    """A command line: an argv quoted word by word, or a line written for the shell already (a pipeline)."""
    return argv if isinstance(argv, str) else " ".join(word(a) for a in argv)

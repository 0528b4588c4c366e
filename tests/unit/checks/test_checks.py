"""Check kinds and the runner against a scripted client: parsing, expectations, retries, reports."""

import json
import xml.etree.ElementTree as ET

import pytest

from orchestrator.checks.http import STATUS_MARK, json_lookup
from orchestrator.checks.registry import default_checks as default_registry
from orchestrator.checks.report import write_junit
from orchestrator.checks.runner import run_check
from orchestrator.errors import PermanentFailure
from orchestrator.providers.process import ExecResult
from orchestrator.network.base import Flows
from orchestrator.spec import Check, Step
from orchestrator.spec.model import PodRef


class ScriptedClient:
    """A runtime that answers exec and flows from a script, recording what it was asked."""

    name = "docker"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.argvs = []
        self.pods = []
        self.queries = []

    def exec(self, pod, argv):
        self.argvs.append(argv)
        self.pods.append(pod)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return ExecResult(*answer)

    @property
    def network(self):  # the scripted flows and explanations play the runtime's network plugin too
        return self

    def explain(self, pod, since):
        return ""

    def flows(self, query):
        self.queries.append(query)
        return Flows(self.answers[0], "scripted", ("FORWARDED",) * self.answers[0])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def http_step(expect, **params):
    check = Check("http", {"url": "https://10.0.0.1:8083/", **params}, expect, timeout=5, interval=1)
    return Step("probe", "check", "a probe", params=check)


def ok_body(cn="client-1"):
    return 0, json.dumps({"headers": {"X-Ssl-Client-Cn": cn}}) + STATUS_MARK + "200", ""


def run(step, client):
    clock = Clock()
    return run_check(step, client, default_registry(), clock=clock, sleep=clock.sleep)


def test_http_passes_and_builds_curl_argv():
    client = ScriptedClient(ok_body())
    result = run(http_step({"status": 200, "json": {"headers.x-ssl-client-cn": "client-1"}}, cert="/c/tls.crt", key="/c/tls.key", cacert="/c/ca.crt"), client)
    assert result.status == "passed" and result.attempts == 1
    assert result.seen["status"] == 200 and result.seen["json"] == {"headers.x-ssl-client-cn": "client-1"}
    argv = client.argvs[0]
    assert argv[0] == "curl" and argv[-1] == "https://10.0.0.1:8083/"
    assert argv[argv.index("--cert") + 1] == "/c/tls.crt" and argv[argv.index("--key") + 1] == "/c/tls.key"


def test_http_retries_until_it_passes():
    client = ScriptedClient((7, "", "curl: (7) Failed to connect"), (7, "", "curl: (7) Failed to connect"), ok_body())
    result = run(http_step({"status": 200}), client)
    assert result.status == "passed" and result.attempts == 3


def test_a_failure_that_does_not_change_is_told_every_ten_seconds():
    """A participant reads the retry lines: one when the failure changes, else one each 10 s of a 30 s timeout."""
    clock, told = Clock(), []
    client = ScriptedClient(*[(7, "", "curl: (7) Failed to connect")] * 5, *[(52, "", "curl: (52) Empty reply")] * 40)
    step = Step("probe", "check", "a probe", params=Check("http", {"url": "https://10.0.0.1:8083/"}, {"status": 200}, timeout=30, interval=1))
    result = run_check(step, client, default_registry(), clock=clock, sleep=clock.sleep, progress=told.append)
    assert result.status == "failed" and result.attempts == 31
    assert [line.split(" (")[0] for line in told] == ["probe: attempt 1 failed", "probe: attempt 6 failed", "probe: attempt 16 failed",
                                                      "probe: attempt 26 failed"]
    assert "Failed to connect" in told[0] and "Empty reply" in told[1]


def test_wait_caps_the_retries_never_lengthens_them():
    failing = lambda: ScriptedClient(*[(7, "", "curl: (7) Failed to connect")] * 40)  # noqa: E731
    step = http_step({"status": 200})  # timeout 5
    for wait, attempts in ((0, 1), (2, 3), (60, 6)):
        clock = Clock()
        assert run_check(step, failing(), default_registry(), clock=clock, sleep=clock.sleep, wait=wait).attempts == attempts, wait


def test_http_failure_says_what_was_expected_and_seen():
    client = ScriptedClient(ok_body("someone-else"))
    result = run(http_step({"status": 200, "json": {"headers.x-ssl-client-cn": "client-1"}}), client)
    assert result.status == "failed"
    assert result.message == "headers.x-ssl-client-cn is 'someone-else', expected 'client-1'"
    assert result.attempts == 6 and result.seconds == 5.0  # retried every second until the timeout


def test_refusal_expectation():
    refused = (56, STATUS_MARK + "000", "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0")
    assert run(http_step({"exitCode": 56, "error": "certificate required"}), ScriptedClient(refused)).status == "passed"
    accepted = run(http_step({"exitCode": 56, "error": "certificate required"}), ScriptedClient(ok_body()))
    assert accepted.status == "failed" and "curl exit code 0, expected 56" in accepted.message


def test_tls_check_parses_openssl():
    out = ("Certificate chain\n 0 s:C = AU, O = Lab, CN = haproxy.lab\n   i:C = AU, O = Lab, CN = Lab Intermediate CA\n"
           "---\nVerify return code: 0 (ok)\n")
    step = Step("tls", "check", params=Check("tls", {"host": "10.0.0.1", "port": 8083, "servername": "haproxy.lab"},
                                           {"verified": True, "issuerCN": "Lab Intermediate CA", "subjectCN": "haproxy.lab"}, timeout=2))
    client = ScriptedClient((0, out, ""))
    result = run(step, client)
    assert result.status == "passed", result.message
    assert "-verify_hostname" in client.argvs[0] and "haproxy.lab" in client.argvs[0]
    bad = run(step, ScriptedClient((1, out.replace("0 (ok)", "21 (unable to verify the first certificate)"), "")))
    assert bad.status == "failed" and "verification unable to verify the first certificate" in bad.message


def test_hubble_check_counts_flows():
    step = Step("h", "check", params=Check("hubble", {"toIp": "10.0.0.1"}, {"flows": 1}, timeout=1))
    assert run(step, ScriptedClient(3)).status == "passed"
    failed = run(step, ScriptedClient(0))
    assert failed.status == "failed" and failed.message == "0 flow(s) seen since this stage began (0 in all), expected at least 1"


def test_check_for_another_runtime_is_skipped():
    check = Check("hubble", {}, {"flows": 1}, runtimes=("kind",))
    result = run(Step("h", "check", params=check), ScriptedClient(0))
    assert result.status == "skipped" and result.message == "runs on kind only"


@pytest.mark.parametrize("path, expected", [("headers.x-ssl-client-cn", "a"), ("HEADERS.X-SSL-CLIENT-CN", "a"), ("list.1", 2)])
def test_json_lookup(path, expected):
    assert json_lookup({"headers": {"X-Ssl-Client-Cn": "a"}, "list": [1, 2]}, path) == expected


def test_registry_rejects_duplicates_and_lists_known():
    registry = default_registry()
    with pytest.raises(ValueError):
        registry.register(registry.get("http"))
    with pytest.raises(KeyError) as err:
        registry.get("smtp")
    assert "known: admission, ca-bundle, cluster-cert, csr, http, hubble, kube-access, load-balancer, secret-cert, tls" in str(err.value)


def test_junit_carries_message_output_and_logs(tmp_path):
    failed = run(http_step({"status": 200}), ScriptedClient((7, "", "curl: (7) Failed to connect")))
    passed = run(http_step({"status": 200}), ScriptedClient(ok_body()))
    write_junit(tmp_path / "r.xml", "lab.x", [passed, failed], "/logs/1")
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.findall("testcase")[1].find("failure")
    assert "curl failed (exit 7)" in failure.get("message") and "logs: /logs/1" in failure.text
    assert "Failed to connect" in suite.findall("testcase")[1].find("system-out").text


def test_hubble_check_asks_for_flows_since_the_stage_began():
    step = Step("h", "check", params=Check("hubble", {"namespace": "ns", "pod": "curl", "toPort": 8083, "flowType": "trace:to-proxy"},
                                          {"flows": 1, "verdict": "FORWARDED"}, timeout=1))
    client = ScriptedClient(1)
    clock = Clock()
    result = run_check(step, client, default_registry(), clock=clock, sleep=clock.sleep, since=1_700_000_000.0429)
    assert result.status == "passed"
    argv = client.queries[0].argv
    assert argv[:4] == ("hubble", "observe", "--output", "json") and argv[argv.index("--since") + 1] == "2023-11-14T22:13:20.042Z"
    assert argv[argv.index("--from-pod") + 1] == "ns/curl" and argv[argv.index("--type") + 1] == "trace:to-proxy"
    assert client.queries[0].since == 1_700_000_000.0429


def test_a_failure_that_cannot_heal_ends_the_check_at_once():
    client = ScriptedClient(PermanentFailure("container lab-x-curl does not exist"))
    result = run(http_step({"status": 200}), client)
    assert result.status == "failed" and result.attempts == 1 and result.seconds == 0.0
    assert result.message == "could not run: container lab-x-curl does not exist"


def test_check_runs_in_the_pod_named_by_from():
    step = Step("probe", "check", params=Check("http", {"url": "http://deathstar/"}, {"status": 200}, timeout=1, source=PodRef(None, "xwing")))
    client = ScriptedClient(ok_body())
    run(step, client)
    assert client.pods == [PodRef(None, "xwing")]


@pytest.mark.parametrize("kind, expect, refusal", [
    ("http", {"status": 200}, False), ("http", {"exitCode": 56}, True), ("http", {"error": "certificate required"}, True),
    ("tls", {"verified": True}, False), ("tls", {"alert": "certificate required"}, True), ("tls", {"verified": False}, True),
    ("hubble", {"flows": 1}, False), ("hubble", {"verdict": "DROPPED"}, True),
])
def test_each_kind_owns_its_refusal_rule(kind, expect, refusal):
    assert default_registry().get(kind).is_refusal(expect) is refusal


def test_commands_shown_are_the_ones_run():
    step = http_step({"status": 200}, cert="/c/tls.crt", key="/c/tls.key")
    client = ScriptedClient(ok_body())
    run(step, client)
    shown = default_registry().get("http").commands(step.check)[0]
    ran = client.argvs[0]
    assert [a for a in ran if not a.startswith(STATUS_MARK) and a != "-w"] == shown


@pytest.mark.parametrize("kind,params,expected", [
    ("http", {}, True), ("http", {"method": "GET"}, True), ("http", {"method": "HEAD"}, True),
    ("http", {"method": "POST"}, False), ("http", {"method": "PUT"}, False), ("http", {"method": "DELETE"}, False),
    ("hubble", {}, False),  # it counts the flows the checks before it made
    ("tls", {}, True), ("kube-access", {"verb": "delete"}, True), ("csr", {}, True), ("cluster-cert", {}, True),
    ("admission", {}, True), ("secret-cert", {}, True), ("ca-bundle", {}, True), ("load-balancer", {}, True),
])
def test_which_checks_may_run_side_by_side(kind, params, expected):
    registry = default_registry()
    assert registry.get(kind).side_by_side(Check(type=kind, params=params, expect={})) is expected
    assert sorted(registry.names()) == sorted(["http", "hubble", "tls", "kube-access", "csr", "cluster-cert", "admission",
                                               "secret-cert", "ca-bundle", "load-balancer"])  # a new kind says its own

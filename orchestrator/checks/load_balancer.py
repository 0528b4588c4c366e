"""`load-balancer`: a Service of type LoadBalancer got an address, inside the range it should come from (an
address pool: `a.b.c.d-a.b.c.e` or a CIDR)."""

from __future__ import annotations

import ipaddress

from orchestrator.checks.base import Observation, say
from orchestrator.spec.model import Check

NAME = {"type": "string", "minLength": 1, "maxLength": 253}


def in_ranges(address: str, ranges: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for item in ranges:
        if "-" in item:
            first, last = (ipaddress.ip_address(x.strip()) for x in item.split("-", 1))
            if first.version == ip.version and first <= ip <= last:
                return True
        elif ip in ipaddress.ip_network(item, strict=False):
            return True
    return False


def _range_problem(item: str) -> str | None:
    if "{{" in item:
        return None  # judged again once rendered
    try:
        if "-" in item:
            first, last = (ipaddress.ip_address(x.strip()) for x in item.split("-", 1))
            return None if first.version == last.version and first <= last else f"{item}: the first address must not be after the last"
        ipaddress.ip_network(item, strict=False)
        return None
    except ValueError:
        return f"{item}: not an address range (a-b) or a CIDR"


class LoadBalancerCheck:
    name = "load-balancer"
    runs_in_pod = False
    required = ("namespace", "name", "expect")
    params = {"namespace": NAME, "name": NAME}
    expect = {"inRange": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 3}}}

    def problems(self, params: dict, expect: dict) -> list[tuple[str, str]]:
        if "inRange" not in expect:
            return [("expect.inRange", "name the ranges the address must come from")]
        return [(f"expect.inRange.{i}", problem) for i, item in enumerate(expect["inRange"]) if (problem := _range_problem(item))]

    def side_by_side(self, check: Check) -> bool:
        return True  # it reads a Service's status

    def is_refusal(self, expect: dict) -> bool:
        return False

    def summary(self, seen: dict) -> str:
        return f"address {', '.join(seen.get('addresses', [])) or 'none'}"

    def expectations(self, expect: dict) -> list[str]:
        return say(expect, {"inRange": lambda v: f"the Service has a load-balancer address in {', '.join(v)}"})

    def commands(self, check: Check) -> list[list[str]]:
        p = check.params
        return [["kubectl", "-n", p["namespace"], "get", "service", p["name"], "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"]]

    def attempt(self, check: Check, runtime, timeout: float, since: float) -> Observation:
        p = check.params
        service = runtime.kube.get("v1", "Service", p["name"], p["namespace"])
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = [i["ip"] for i in ingress if i.get("ip")]
        seen = {"type": (service.get("spec") or {}).get("type"), "addresses": addresses}
        problems = []
        if not addresses:
            problems.append(f"Service {p['namespace']}/{p['name']} ({seen['type']}) has no load-balancer address yet")
        for address in addresses:
            if not in_ranges(address, check.expect["inRange"]):
                problems.append(f"address {address} is outside {', '.join(check.expect['inRange'])}")
        return Observation(seen, problems, output=f"Service {p['namespace']}/{p['name']}: type {seen['type']}, ingress {addresses or 'none'}")

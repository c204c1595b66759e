"""Whether rendered NetworkPolicies let one endpoint connect to another: Kubernetes' rules, as much as the chart uses.

A connection needs both ends' consent: the source's egress (when a policy with Egress selects the source pod) and
the destination's ingress (when a policy with Ingress selects the destination pod). Rules of the policies that
select a pod are added together; a peer with both selectors needs both to match; an ipBlock matches addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A pod (its namespace, labels and named ports) or, without a namespace, an address outside the cluster."""

    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    named_ports: Mapping[str, int] = field(default_factory=dict)


def namespace_labels(namespace: str) -> dict[str, str]:
    """The label Kubernetes puts on every namespace."""
    return {"kubernetes.io/metadata.name": namespace}


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector against a set of labels (an empty selector selects everything)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        if address.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(
            address in ipaddress.ip_network(cidr)
            for cidr in block.get("except") or []
            if ipaddress.ip_network(cidr).version == address.version
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], namespace_labels(other.namespace))
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector") or {}, other.labels)


def _port_matches(
    ports: Iterable[Mapping[str, Any]] | None, port: int, protocol: str, named: Mapping[str, int]
) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        number = named.get(wanted) if isinstance(wanted, str) else wanted
        if number is not None and number <= port <= entry.get("endPort", number):
            return True
    return False


def _policies_of(policies: Iterable[Manifest], namespace: str, pod: Endpoint, kind: str) -> list[Manifest]:
    if pod.namespace != namespace:
        return []
    return [p for p in policies if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod.labels)]


def connects(
    policies: Iterable[Manifest], namespace: str, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether ``src`` may open a connection to ``dst`` on ``port`` under ``policies`` (all in ``namespace``)."""
    policies = list(policies)
    egress = _policies_of(policies, namespace, src, "Egress")
    if egress and not any(
        (not rule.get("to") or any(_peer_matches(peer, namespace, dst) for peer in rule["to"]))
        and _port_matches(rule.get("ports"), port, protocol, dst.named_ports)
        for policy in egress
        for rule in policy["spec"].get("egress") or []
    ):
        return False
    ingress = _policies_of(policies, namespace, dst, "Ingress")
    return not ingress or any(
        (not rule.get("from") or any(_peer_matches(peer, namespace, src) for peer in rule["from"]))
        and _port_matches(rule.get("ports"), port, protocol, dst.named_ports)
        for policy in ingress
        for rule in policy["spec"].get("ingress") or []
    )

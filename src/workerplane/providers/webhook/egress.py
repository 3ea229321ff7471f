"""Where the webhook provider may send requests: a guard against server-side request forgery.

Anyone who may submit a spec to the API names the webhook URL, and ``serve`` POSTs to it from
inside the operator's network. So a URL is resolved first and *every* address it resolves to is
checked; loopback, link-local, cloud metadata, private and other non-public addresses are refused
unless the operator allows them:

* ``WORKERPLANE_WEBHOOK_ALLOW_PRIVATE=1`` allows loopback and private ranges (RFC 1918, unique
  local IPv6, shared address space), not link-local or metadata addresses;
* ``WORKERPLANE_WEBHOOK_ALLOWED_CIDRS=10.1.0.0/16,127.0.0.1/32`` allows exactly those networks
  (any address in them, metadata included: the operator listed it).

The connection then goes to the address that was checked (the request names it, with the original
``Host`` header and TLS server name), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

ALLOW_PRIVATE_ENV = "WORKERPLANE_WEBHOOK_ALLOW_PRIVATE"
ALLOWED_CIDRS_ENV = "WORKERPLANE_WEBHOOK_ALLOWED_CIDRS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud instance metadata services: they hand out credentials to whoever asks from inside.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_HOW_TO_ALLOW = (
    f"an operator may allow it with {ALLOW_PRIVATE_ENV}=1 or by listing its network in "
    f"{ALLOWED_CIDRS_ENV}"
)


class EgressRefused(Exception):
    """The webhook URL leads to an address the policy does not allow."""


def _parse_networks(text: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class EgressPolicy:
    """Which non-public addresses a webhook may reach (none by default)."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> EgressPolicy:
        """The operator's setting (see the module docstring).

        Raises:
            ValueError: ``WORKERPLANE_WEBHOOK_ALLOWED_CIDRS`` holds something not a network.
        """
        allow = environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        return cls(allow, _parse_networks(environ.get(ALLOWED_CIDRS_ENV, "")))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached (``None``: it may)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return None
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_global and not address.is_multicast:
            return None
        if address.is_multicast or address.is_unspecified or address.is_reserved:
            return "not a unicast address"
        if self.allow_private:
            return None
        return "a loopback address" if address.is_loopback else "a private address"


async def _addresses(host: str, port: int) -> set[IPAddress]:
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise EgressRefused(f"cannot resolve '{host}': {exc.strerror or exc}") from None
    return {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}


@dataclass(frozen=True)
class PinnedTarget:
    """A request target that names the checked address, and what keeps the original host."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


async def pinned_target(url: str, policy: EgressPolicy) -> PinnedTarget:
    """Resolve ``url``'s host, check every address, and aim the request at the first one.

    Raises:
        EgressRefused: the URL is not http(s), its host is a metadata name, or one of its
            addresses is refused by ``policy``.
    """
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EgressRefused("the webhook URL must be an http(s) URL with a host")
    host = parsed.host.rstrip(".").lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if host in METADATA_HOSTS:
        raise EgressRefused(f"'{host}' is a cloud metadata service; webhooks may not reach it")
    addresses = await _addresses(host, port)
    if not addresses:
        raise EgressRefused(f"'{host}' resolves to no address")
    for address in sorted(addresses, key=str):
        reason = policy.refusal(address)
        if reason is not None:
            shown = host if host == str(address) else f"'{host}' resolves to {address}, which"
            raise EgressRefused(f"{shown} is {reason}; {_HOW_TO_ALLOW}")
    chosen = str(min(addresses, key=lambda a: (a.version, str(a))))
    return PinnedTarget(
        url=parsed.copy_with(host=chosen),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions={"sni_hostname": host} if parsed.scheme == "https" else {},
    )

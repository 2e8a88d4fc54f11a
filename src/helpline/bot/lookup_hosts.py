"""Where a flow's lookups may connect.

Whoever writes flows chooses a lookup's URL, and the request leaves from the server's own
network: without limits, a URL could read what only the server can reach. So:

* link-local addresses (169.254.0.0/16, fe80::/10: where clouds serve an instance's
  credentials), multicast and unspecified ones are never asked, whatever name leads there;
* when the operator lists hosts in `HELPLINE_LOOKUP_HOSTS` (names, addresses or networks such
  as `crm.internal, 10.20.0.0/16`), lookups go to those only.

Loopback and private networks are allowed by default: that is where a company's CRM lives.
The name is resolved just before the request; a DNS server that answers differently a moment
later (rebinding) is beyond this check, which listing hosts by address closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4 address written as IPv6 (::ffff:169.254.169.254) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def never_asked(address: IPAddress) -> bool:
    plain = _plain(address)
    return plain.is_link_local or plain.is_multicast or plain.is_unspecified


@dataclass(frozen=True, slots=True)
class LookupHosts:
    """The operator's list of lookup hosts; empty, any host but those never asked."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LookupHosts:
        """From `HELPLINE_LOOKUP_HOSTS`: comma-separated names, addresses and networks.

        ValueError names an entry that is none of these, so a typo stops the server at start
        instead of failing every lookup."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip().lower().rstrip(".") for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(entry):
                raise ValueError(f"HELPLINE_LOOKUP_HOSTS: {entry!r} is not a host name, address or network")
            names.add(entry)
        return cls(frozenset(names), tuple(networks))

    @property
    def listed(self) -> bool:
        return bool(self.names or self.networks)

    def refusal(self, host: str, addresses: list[IPAddress]) -> str | None:
        """Why a request to `host`, which resolved to `addresses`, may not go; None if it may."""
        for address in addresses:
            if never_asked(address):
                return "a link-local, multicast or unspecified address"
        if not self.listed or host.lower().rstrip(".") in self.names:
            return None
        if addresses and all(any(_plain(a) in n or a in n for n in self.networks) for a in addresses):
            return None
        return "not in HELPLINE_LOOKUP_HOSTS"


async def resolve(host: str) -> list[IPAddress]:
    """The addresses `host` stands for (an address stands for itself); OSError if none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found))

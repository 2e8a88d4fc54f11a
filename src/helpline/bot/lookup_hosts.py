"""Where a flow's lookups may connect.

Whoever writes flows chooses a lookup's URL, and the request leaves from the server's own
network: without limits, a URL could read what only the server can reach. So:

* link-local addresses (169.254.0.0/16, fe80::/10: where clouds serve an instance's
  credentials), the metadata addresses outside them (Alibaba's 100.100.100.200, AWS's
  fd00:ec2::254), multicast and unspecified ones are never asked, whatever name leads there and
  however the address is written (IPv4 inside IPv6: ::ffff:…, NAT64, 6to4, Teredo);
* when the operator lists hosts in `HELPLINE_LOOKUP_HOSTS` (names, addresses or networks such
  as `crm.internal, 10.20.0.0/16`), lookups go to those only.

Loopback and private networks are allowed by default: that is where a company's CRM lives.
The name is resolved once, here, in the form the HTTP client would send (IDNA 2008, so
«straße» is xn--strae-oqa, not strasse), and the client connects only to the addresses that
were checked (lookup_client.py): a DNS server cannot answer one address to the check and
another to the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass

import httpx

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


#: Cloud metadata services outside the link-local ranges.
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _forms(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address written inside it."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            forms.append(address.sixtofour)
        if address.teredo is not None:
            forms.extend(address.teredo)
        if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
            forms.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return forms


def never_asked(address: IPAddress) -> bool:
    return any(
        a.is_link_local or a.is_multicast or a.is_unspecified or a in _METADATA for a in _forms(address)
    )


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
            name = wire_name(entry)
            if name is None or not _HOST_NAME.match(name):
                raise ValueError(f"HELPLINE_LOOKUP_HOSTS: {entry!r} is not a host name, address or network")
            names.add(name)
        return cls(frozenset(names), tuple(networks))

    @property
    def listed(self) -> bool:
        return bool(self.names or self.networks)

    def refusal(self, host: str, addresses: list[IPAddress]) -> str | None:
        """Why a request to `host` (as sent: see wire_name), which resolved to `addresses`, may
        not go; None if it may."""
        for address in addresses:
            if never_asked(address):
                return "a link-local, multicast or unspecified address"
        if not self.listed or host.lower().rstrip(".") in self.names:
            return None
        if addresses and all(any(_plain(a) in n or a in n for n in self.networks) for a in addresses):
            return None
        return "not in HELPLINE_LOOKUP_HOSTS"


def wire_name(host: str) -> str | None:
    """`host` as the HTTP client sends it (IDNA 2008, lower case, no trailing dot); None when
    it is not a host name."""
    if any(c in host for c in ":/@?#[]\\"):  # a port, a path, a user: not just a name
        return None
    try:
        raw = httpx.URL(f"http://{host}/").raw_host
    except (httpx.InvalidURL, UnicodeError):
        return None
    return raw.decode("ascii").lower().rstrip(".")


async def resolve(host: str) -> list[IPAddress]:
    """The addresses `host` stands for (an address stands for itself); OSError if none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found))

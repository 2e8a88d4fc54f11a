"""The operator's list of lookup hosts, and the addresses no lookup may ask."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from helpline.bootstrap import build_container
from helpline.bot.lookup_hosts import LookupHosts
from helpline.config import Settings


def addresses(*text: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(t) for t in text]


def test_the_list_holds_names_addresses_and_networks() -> None:
    hosts = LookupHosts.parse(" CRM.Internal. , 10.20.0.0/16,[::1], 192.0.2.7,,")
    assert hosts.names == {"crm.internal"}
    assert [str(n) for n in hosts.networks] == ["10.20.0.0/16", "::1/128", "192.0.2.7/32"]


@pytest.mark.parametrize(
    "entry", ["crm internal", "http://crm.internal", "crm.internal:8080", "*.example.com"]
)
def test_an_entry_that_is_no_host_is_refused_with_its_text(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a host name, address or network"):
        LookupHosts.parse(f"crm.internal, {entry}")


def test_a_typo_in_the_list_stops_the_server_at_start(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", lookup_hosts="crm internal")
    with pytest.raises(ValueError, match="HELPLINE_LOOKUP_HOSTS"):
        build_container(settings)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64
        "::a9fe:a9fe",  # IPv4-compatible
        "2002:a9fe:a9fe::1",  # 6to4
        "100.100.100.200",  # Alibaba's metadata
        "fd00:ec2::254",  # AWS's, over IPv6
        "fe80::1",
        "0.0.0.0",  # noqa: S104
        "::",
        "224.0.0.1",
        "ff02::1",
    ],
)
def test_metadata_link_local_multicast_and_unspecified_addresses_are_never_asked(address: str) -> None:
    everything = LookupHosts.parse("0.0.0.0/0, ::/0, metadata.internal")
    assert LookupHosts().refusal("metadata.internal", addresses(address)) is not None
    assert everything.refusal("metadata.internal", addresses(address)) is not None


def test_without_a_list_private_and_loopback_hosts_may_be_asked() -> None:
    """Where a company's CRM usually lives."""
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.10", "::1", "fd00::5", "93.184.216.34"):
        assert LookupHosts().refusal("crm", addresses(address)) is None


def test_with_a_list_a_host_passes_by_its_name_or_by_all_its_addresses() -> None:
    hosts = LookupHosts.parse("crm.internal, 10.20.0.0/16")
    assert hosts.refusal("crm.internal", addresses("10.99.0.1")) is None
    assert hosts.refusal("CRM.internal.", addresses("10.99.0.1")) is None
    assert hosts.refusal("other", addresses("10.20.0.5")) is None
    assert hosts.refusal("other", addresses("10.20.0.5", "10.21.0.5")) == "not in HELPLINE_LOOKUP_HOSTS"
    assert hosts.refusal("other", addresses("::ffff:10.20.0.5")) is None
    assert hosts.refusal("other", []) == "not in HELPLINE_LOOKUP_HOSTS"


def test_names_are_listed_and_compared_as_they_are_sent() -> None:
    """IDNA 2008: «пример.рф» is xn--e1afmkfd.xn--p1ai on the wire, «straße» xn--strae-oqa."""
    hosts = LookupHosts.parse("пример.рф, Straße.test")
    assert hosts.names == {"xn--e1afmkfd.xn--p1ai", "xn--strae-oqa.test"}
    assert hosts.refusal("xn--e1afmkfd.xn--p1ai", addresses("192.0.2.1")) is None
    assert hosts.refusal("strasse.test", addresses("192.0.2.1")) == "not in HELPLINE_LOOKUP_HOSTS"


def test_the_client_remembers_a_bounded_number_of_checked_names() -> None:
    from helpline.bot.lookup_client import CheckedAddresses

    checked = CheckedAddresses()
    for n in range(CheckedAddresses.KEEP + 50):
        checked.allow(f"tenant{n}.crm.example", addresses("192.0.2.1"))
    assert len(checked) == CheckedAddresses.KEEP
    checked.forget(f"tenant{CheckedAddresses.KEEP + 49}.crm.example")
    assert len(checked) == CheckedAddresses.KEEP - 1

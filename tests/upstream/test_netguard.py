"""The SSRF policy: what is refused before and after DNS, and what the allowlist lets through."""

from __future__ import annotations

import ipaddress

import pytest

from hfgate.upstream.netguard import HostPolicy, literal_ip, normalise_host

OPEN = HostPolicy()

# (host as written, the words its refusal must contain)
FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("[::1]", "loopback"),
    ("0:0:0:0:0:0:0:1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fd00::1", "private"),
    ("fec0::1", "private"),
    ("::ffff:10.0.0.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "special-purpose"),
    ("2001:db8::1", "special-purpose"),
    ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ("localhost", "loopback host name"),
    ("LOCALHOST.", "loopback host name"),
    ("foo.localhost", "loopback host name"),
    ("localhost.localdomain", "loopback host name"),
    ("ip6-localhost", "loopback host name"),
    ("2130706433", "loopback"),
    ("0x7f.1", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("167772161", "private"),  # 10.0.0.1 as one number
    ("99999999999", "neither a valid IP address nor a valid host name"),
    ("1.2.3.4.5", "neither a valid IP address nor a valid host name"),
]

PUBLIC_IPS = ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]
PUBLIC_NAMES = ["example.com", "abc123.us-east-1.aws.endpoints.huggingface.cloud", "x_y.example"]


@pytest.mark.parametrize(("host", "words"), FORBIDDEN)
def test_host_problem_refuses_with_the_category(host: str, words: str) -> None:
    problem = OPEN.host_problem(host)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(("host", "words"), [f for f in FORBIDDEN if literal_ip(f[0])])
def test_address_problem_refuses_a_name_that_resolves_there(host: str, words: str) -> None:
    problem = OPEN.address_problem("innocent.example.com", host)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(
    ("ip", "spelled"),
    [("2130706433", "(127.0.0.1)"), ("0x7f.1", "(127.0.0.1)"), ("::ffff:127.0.0.1", "127.0.0.1")],
)
def test_unusual_spellings_are_explained(ip: str, spelled: str) -> None:
    assert spelled in (OPEN.host_problem(ip) or "")


@pytest.mark.parametrize("host", PUBLIC_IPS + PUBLIC_NAMES)
def test_public_hosts_pass_before_dns(host: str) -> None:
    assert OPEN.host_problem(host) is None


@pytest.mark.parametrize("ip", PUBLIC_IPS)
def test_public_addresses_pass_after_dns(ip: str) -> None:
    assert OPEN.address_problem("dns.example", ip) is None


def test_a_loopback_name_is_refused_whatever_it_resolves_to() -> None:
    assert "loopback" in (OPEN.address_problem("localhost", "8.8.8.8") or "")


def test_an_unreadable_resolved_address_is_refused() -> None:
    assert "not an IP address" in (OPEN.address_problem("example.com", "nonsense") or "")


# ---- the allowlist -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "host", "ip"),
    [
        (["localhost"], "localhost", "127.0.0.1"),
        (["LocalHost"], "localhost.", "::1"),
        (["sim.internal"], "SIM.internal", "10.1.2.3"),
        (["127.0.0.1"], "127.0.0.1", "127.0.0.1"),
        (["127.0.0.0/8"], "127.0.0.1", "127.0.0.1"),
        (["127.0.0.0/8"], "2130706433", "127.0.0.1"),
        (["127.0.0.0/8"], "::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        (["10.0.0.0/8"], "10.9.9.9", "10.9.9.9"),
        (["::1"], "[::1]", "::1"),
        (["[::1]"], "::1", "::1"),
        (["fd00::/8"], "fd00::1", "fd00::1"),
        (["169.254.169.254"], "169.254.169.254", "169.254.169.254"),
        (["bücher.example"], "BÜCHER.example", "10.0.0.1"),
        (["bücher.example"], "xn--bcher-kva.example", "10.0.0.1"),
    ],
)
def test_allowlisted_hosts_pass(allow: list[str], host: str, ip: str) -> None:
    policy = HostPolicy(allow)
    assert policy.is_allowlisted(host, ip)
    assert policy.host_problem(host) is None
    assert policy.address_problem(host, ip) is None
    assert policy.scheme_problem("http", host) is None


@pytest.mark.parametrize(
    ("allow", "host", "words"),
    [
        (["localhost"], "127.0.0.1", "loopback"),  # the name, not every loopback address
        (["localhost"], "foo.localhost", "loopback"),
        (["127.0.0.1"], "127.0.0.2", "loopback"),
        (["10.0.0.0/8"], "192.168.1.1", "private"),
        (["10.0.0.0/8"], "169.254.169.254", "cloud metadata"),
        (["sim.internal"], "other.internal.evil", None),
    ],
)
def test_the_allowlist_lets_through_only_what_it_lists(
    allow: list[str], host: str, words: str | None
) -> None:
    policy = HostPolicy(allow)
    assert not policy.is_allowlisted(host)
    if words:
        assert words in (policy.host_problem(host) or "")


def test_a_name_resolving_into_a_listed_network_passes_but_not_over_plain_http() -> None:
    # Before DNS only the name is known: plain http needs the name itself listed.
    policy = HostPolicy(["127.0.0.0/8"])
    assert policy.address_problem("sim.test", "127.0.0.5") is None
    assert "plain http" in (policy.scheme_problem("http", "sim.test") or "")


def test_a_resolved_address_outside_the_allowlist_is_still_refused() -> None:
    policy = HostPolicy(["10.0.0.0/8"])
    assert "loopback" in (policy.address_problem("sim.test", "127.0.0.1") or "")


def test_empty_entries_are_ignored() -> None:
    assert not HostPolicy(["", "  "]).is_allowlisted("localhost")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("10.0.0.0/33", "not a valid CIDR"),
        ("10.0.0.1/8", "host bits"),
        ("300.0.0.0/8", "not a valid CIDR"),
        ("fe80::/129", "not a valid CIDR"),
        ("10.0.0.0/abc", "not a valid CIDR"),
        ("localhost:8080", "without scheme, port or path"),
        ("http://sim.internal", "without scheme, port or path"),
        ("*.example.com", "not a host name"),
        ("bad host", "not a host name"),
        ("99999999999", "not a host name"),
    ],
)
def test_a_malformed_allowlist_entry_is_named(entry: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        HostPolicy(["localhost", entry])
    assert repr(entry) in str(caught.value)
    assert words in str(caught.value)
    assert "HFGATE_ALLOW_HOSTS" in str(caught.value)


# ---- schemes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "scheme", "host", "words"),
    [
        ([], "https", "example.com", None),
        ([], "HTTPS", "example.com", None),
        ([], "http", "example.com", "plain http"),
        ([], "http", "localhost", "HFGATE_ALLOW_HOSTS"),
        (["localhost"], "http", "localhost", None),
        (["localhost"], "ftp", "localhost", "not supported"),
        ([], "ws", "example.com", "not supported"),
    ],
)
def test_scheme_problem(allow: list[str], scheme: str, host: str, words: str | None) -> None:
    problem = HostPolicy(allow).scheme_problem(scheme, host)
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        assert words in problem


# ---- host spelling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("example.com", None),
        ("08", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("0x100000000", None),
        ("", None),
    ],
)
def test_literal_ip(host: str, expected: str | None) -> None:
    ip = literal_ip(host)
    assert ip == (ipaddress.ip_address(expected) if expected else None)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("[::1]", "::1"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.Example", "xn--bcher-kva.example"),
    ],
)
def test_normalise_host(host: str, expected: str) -> None:
    assert normalise_host(host) == expected


def test_normalise_host_refuses_what_idna_cannot_encode() -> None:
    with pytest.raises(ValueError):
        normalise_host("☃.net")

"""The SSRF policy: which upstream hosts hfgate may connect to (docs/protocols.md §6).

Pure: nothing here resolves names or opens sockets. The credential parser judges literal IPs
and loopback names before storing anything; the transport's resolver judges every address a
DNS name resolves to, so a public name that points at 169.254.169.254 is refused as well.
Anything listed in ``HFGATE_ALLOW_HOSTS`` (host names, IPs or CIDRs) is exempt: the demo and the
tests run their TGI simulator on loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, Iterable

import idna  # a dependency of httpx; IDNA 2008 + UTS 46, as the HTTP clients encode hosts

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWLIST_HINT = "list the host in HFGATE_ALLOW_HOSTS to allow it"
SCHEMES = frozenset({"http", "https"})

_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
# RFC 6761's localhost, plus the names Debian and Red Hat put in /etc/hosts for 127.0.0.1/::1.
_LOOPBACK_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    }
)

# First match wins: the metadata addresses also sit inside link-local, private and CGNAT
# ranges, and the specific name is the one an admin can act on.
_CATEGORIES: tuple[tuple[Callable[[IPAddress], bool], str], ...] = (
    (lambda ip: ip.is_unspecified, "the unspecified address"),
    (lambda ip: ip in _METADATA, "the cloud metadata address"),
    (lambda ip: ip.is_loopback, "a loopback address"),
    (lambda ip: ip.is_link_local, "a link-local address"),
    (lambda ip: any(ip in net for net in _PRIVATE), "a private address"),
    (lambda ip: getattr(ip, "is_site_local", False), "a private (site-local) address"),
    (lambda ip: ip in _CGNAT, "a shared (carrier-grade NAT) address"),
    (lambda ip: ip.is_multicast, "a multicast address"),
    (lambda ip: ip.is_reserved or ip == _BROADCAST, "a reserved or broadcast address"),
    (lambda ip: not ip.is_global, "a special-purpose (non-public) address"),
)

# The forms inet_aton(3) accepts per dotted part: getaddrinfo resolves "2130706433" and
# "0x7f.1" to 127.0.0.1 without DNS, so the policy must read them the same way.
_INET_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalise_host(host: str) -> str:
    """Lower-case, unbracketed, without a trailing dot, IDNA-encoded; ValueError if it can't be."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if name.isascii():
        return name
    return idna.encode(name, uts46=True).decode("ascii")


def is_host_name(host: str) -> bool:
    """Whether a normalised host is a valid DNS name: a-z, 0-9, - and _, and a non-numeric TLD."""
    # A numeric last label ("99999", "1.2.3.4.5") is never a name: resolvers read it as an IP.
    return (
        len(host) <= 253
        and _HOST_NAME.fullmatch(host) is not None
        and not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1])
    )


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names without DNS: ``[::1]``, ``10.0.0.1``, or ``2130706433``."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return _inet_aton(name)


def _inet_aton(name: str) -> ipaddress.IPv4Address | None:
    parts = name.split(".")
    if len(parts) > 4 or not all(_INET_PART.fullmatch(p) for p in parts):
        return None
    *head, last = (_inet_number(p) for p in parts)
    # The last part fills every byte the earlier parts left: "127.1" is 127.0.0.1.
    if any(v > 255 for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _inet_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8) if len(part) > 1 and part.startswith("0") else int(part)


def is_loopback_name(host: str) -> bool:
    """Names that never leave the box: ``localhost``, ``*.localhost`` and the /etc/hosts ones."""
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, IPv4-compatible), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None or ip.sixtofour is not None:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_category(ip: IPAddress) -> str | None:
    """The kind of non-public address ``ip`` is ("a loopback address"), or None if public."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        # Judge what the packets will actually reach; a public IPv4 inside is fine.
        category = address_category(inner)
        return f"{category} (it embeds IPv4 {inner})" if category else None
    return next((phrase for test, phrase in _CATEGORIES if test(ip)), None)


def _describe(shown: str, ip: IPAddress, category: str) -> str:
    spelled = f" ({ip})" if isinstance(ip, ipaddress.IPv4Address) and shown != str(ip) else ""
    return f"{shown}{spelled} is {category}"


def _parse_allow_entry(entry: str) -> str | IPNetwork:
    """One HFGATE_ALLOW_HOSTS entry as a normalised host name or a network."""
    if "/" in entry and "://" not in entry:
        try:
            return ipaddress.ip_network(entry.removeprefix("[").replace("]", ""))
        except ValueError as exc:
            message = f"HFGATE_ALLOW_HOSTS entry {entry!r} is not a valid CIDR: {exc}"
            raise ValueError(message) from None
    ip = literal_ip(entry)
    if ip is not None:
        return ipaddress.ip_network(ip)
    try:
        name = normalise_host(entry)
    except ValueError:
        name = ""
    if not is_host_name(name):
        raise ValueError(
            f"HFGATE_ALLOW_HOSTS entry {entry!r} is not a host name, an IP address or a CIDR"
            " (list hosts without scheme, port or path, e.g. localhost,10.0.0.0/8)"
        )
    return name


class HostPolicy:
    """Which upstream hosts hfgate may connect to.

    Built from HFGATE_ALLOW_HOSTS (hosts or CIDRs); ``ValueError`` names a malformed entry.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        entries = [_parse_allow_entry(e.strip()) for e in allow if e.strip()]
        self._names = frozenset(e for e in entries if isinstance(e, str))
        self._networks = tuple(e for e in entries if not isinstance(e, str))

    def __repr__(self) -> str:
        listed = sorted(self._names) + [str(n) for n in self._networks]
        return f"HostPolicy(allow={listed!r})"

    def is_allowlisted(self, host: str, ip: str | None = None) -> bool:
        """The host is listed by name, or it (as a literal) or ``ip`` lies in a listed network."""
        with contextlib.suppress(ValueError):  # not a valid name: only the address can match
            if normalise_host(host) in self._names:
                return True
        return any(self._listed_ip(value) for value in (host, ip) if value)

    def _listed_ip(self, value: str) -> bool:
        ip = literal_ip(value)
        if ip is None:
            return False
        candidates = {ip, _embedded_ipv4(ip) or ip}
        return any(c in net for c in candidates for net in self._networks)

    def host_problem(self, host: str) -> str | None:
        """Judge a host before DNS: loopback names and literal IPs (in any spelling).

        None for an ordinary DNS name: its addresses are judged after resolution.
        """
        if self.is_allowlisted(host):
            return None
        try:
            name = normalise_host(host)
        except ValueError:
            return f"{host!r} is not a valid host name (it cannot be IDNA-encoded)"
        if is_loopback_name(name):
            return f"{name} is a loopback host name"
        ip = literal_ip(name)
        if ip is not None:
            category = address_category(ip)
            return _describe(name, ip, category) if category else None
        if not is_host_name(name):
            return f"{name!r} is neither a valid IP address nor a valid host name"
        return None

    def address_problem(self, host: str, ip: str) -> str | None:
        """None if ``host`` may be reached at its resolved ``ip``; else the reason it may not."""
        if self.is_allowlisted(host, ip):
            return None
        problem = self.host_problem(host)
        if problem:
            return problem
        address = literal_ip(ip)
        if address is None:
            return f"{ip!r} is not an IP address"
        category = address_category(address)
        return _describe(ip, address, category) if category else None

    def scheme_problem(self, scheme: str, host: str) -> str | None:
        """Only https, and http for allowlisted hosts (local simulators, tests)."""
        scheme = scheme.lower()
        if scheme == "https" or (scheme == "http" and self.is_allowlisted(host)):
            return None
        if scheme == "http":
            return (
                f"plain http:// is refused for {host} because the token would travel unencrypted;"
                f" use https://, or {ALLOWLIST_HINT}"
            )
        return f"the scheme {scheme!r} is not supported; use https://"

"""Who the client is: the TCP peer, or what a trusted reverse proxy says it forwarded.

``X-Forwarded-For`` is believed only when the peer is one of the proxies listed
in ``OPENDSP_TRUSTED_PROXIES`` (addresses or networks; none by default), and
then only as far as the chain of trusted proxies goes: reading from the right,
the first address that is not a trusted proxy is the client. Anything a client
writes further left is its own claim and is ignored. The web server is run
without its own proxy-header handling (``opendsp serve``), so this is the only
place that decides.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# How `opendsp serve` runs uvicorn: its own proxy-header handling (which believes X-Forwarded-For from
# 127.0.0.1 by default) is off, so that only ``client_address`` decides.
SERVER_OPTIONS = {"proxy_headers": False, "server_header": False}


@cache
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The setting's networks; a bad entry stops start-up with its text."""
    networks = []
    for entry in setting.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"OPENDSP_TRUSTED_PROXIES: {entry!r} is not an address or a network") from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    parsed = getattr(parsed, "ipv4_mapped", None) or parsed
    return any(parsed in network for network in networks)


def forwarded_client(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...]) -> str | None:
    """The client's address, given the TCP peer and the X-Forwarded-For headers received."""
    if peer is None or not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        if not _trusted(address, networks):
            break
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage in the chain: the last proxy we trust is as far as we can see
        address = hop
    return address


def client_address(request: Request) -> str | None:
    settings = request.app.state.platform.settings
    peer = request.client.host if request.client else None
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted_networks(settings.trusted_proxies))

"""The client's address: the TCP peer, or what a trusted proxy says in X-Forwarded-For.

Rate limits, login throttles and the handshake limit key on this address, so believing the
header from anyone would let one client pose as thousands (a new address per request). The
header counts only when the peer is a configured proxy (TRUSTED_PROXIES, empty by default).
uvicorn's own proxy handling trusts 127.0.0.1 unless told otherwise: the hub starts uvicorn
with --no-proxy-headers (hub/cli.py, Procfile) so that this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> list[Network]:
    """'10.0.0.1, 10.1.0.0/16' -> networks; a bad entry is an error naming it."""
    networks: list[Network] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES entry '{entry}' is not an address or network"
            ) from None
    return networks


@dataclass
class TrustedProxies:
    networks: list[Network] = field(default_factory=list)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str | None) -> str:
        """The first address from the right of X-Forwarded-For that is not a trusted proxy
        (each proxy appends the address it saw); the peer when it is not trusted itself."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer  # a garbled chain: believe only what we saw ourselves
            if not self.trusts(hop):
                return hop
        return hops[0]


class ClientAddress:
    """Rewrite the scope's client to the real client before anything reads it."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.proxies.networks:
            forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
            if forwarded:
                header = b",".join(forwarded).decode("latin-1")
                real = self.proxies.client_of(client[0], header)
                if real != client[0]:
                    scope = {**scope, "client": (real, 0)}
        await self.app(scope, receive, send)

"""Who is asking: the client address behind trusted proxies."""

import functools
import ipaddress

from django.conf import settings


@functools.lru_cache(maxsize=8)
def _networks(spec):
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _parse_ip(value):
    try:
        return ipaddress.ip_address(value.strip())
    except (AttributeError, ValueError):
        return None


def _trusted(ip):
    return ip is not None and any(ip in net for net in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request):
    """The client's address (``RATELIMIT_IP_META_KEY``).

    ``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy
    (``TRUSTED_PROXIES``); then the rightmost address that is not itself a
    trusted proxy is the client, because anything left of it was written by the
    client and can be forged.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    peer = _parse_ip(remote)
    if not _trusted(peer):
        return str(peer) if peer is not None else "0.0.0.0"  # noqa: S104 - a key, not a bind
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _parse_ip(hop)
        if ip is None:
            break
        if not _trusted(ip):
            return str(ip)
    return str(peer)

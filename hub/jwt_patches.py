"""Two per-call costs of PyJWT that do not depend on the token, paid once instead.

A `jwt.decode` of one of our access tokens took ~80 µs here, paid by every socket handshake
and every REST request; the HMAC itself is ~2 µs. Most of the rest:

* PyJWT 2.15 checks every character of every segment against the base64url alphabet in a
  Python generator (its fix for GHSA-hxm8-2xgr-2p9m). Here the same method checks the
  alphabet with one `fullmatch`; every other line, and so every answer and error, is
  upstream's.
* `HMACAlgorithm.prepare_key` vets the secret on every call (is it PEM, SSH, DER — a DER
  parse by `cryptography` — or JSON?). Its answer depends on the key alone, and the hub has
  one key, so it is remembered per key (a refused key is refused again each time).

Both replaced methods are fingerprinted in tests/test_upstream_contract.py, and pyjwt's
series is pinned in pyproject.toml.
"""

from __future__ import annotations

import binascii
import functools
import re
from typing import Any

from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

_ALPHABET_ONLY = re.compile(rb"[A-Za-z0-9\-_]*")
_installed = False


def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
    # Accept trailing '=' used by some issuers (e.g. AWS ALB). Still
    # reject non-alphabet junk such as '!!!!' (GHSA-hxm8-2xgr-2p9m).
    padding = 0
    stripped = segment
    while stripped.endswith(b"="):
        stripped = stripped[:-1]
        padding += 1
        if padding > 2:
            raise DecodeError(f"Invalid {name} padding")

    if padding and len(segment) % 4 != 0:
        raise DecodeError(f"Invalid {name} padding")

    if len(stripped) % 4 == 1 or _ALPHABET_ONLY.fullmatch(stripped) is None:
        raise DecodeError(f"Invalid {name} padding")

    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err

    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")

    return decoded


_stock_prepare_key = HMACAlgorithm.prepare_key


@functools.lru_cache(maxsize=16)
def _prepared_hmac_key(algorithm: HMACAlgorithm, key: str | bytes) -> bytes:
    prepared: bytes = _stock_prepare_key(algorithm, key)
    return prepared


def _prepare_key(self: HMACAlgorithm, key: Any) -> bytes:
    if isinstance(key, (str, bytes)):
        return _prepared_hmac_key(self, key)
    prepared: bytes = _stock_prepare_key(self, key)
    return prepared


def install() -> None:
    global _installed
    if not _installed:
        PyJWS._decode_base64url_segment = staticmethod(_decode_base64url_segment)  # type: ignore[method-assign]
        HMACAlgorithm.prepare_key = _prepare_key  # type: ignore[method-assign]
        _installed = True

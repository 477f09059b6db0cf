"""hub/jwt_patches.py answers exactly as PyJWT's own code, for any input."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError, InvalidKeyError

from hub import jwt_patches

_STOCK: Callable[[bytes, str], bytes] = PyJWS.__dict__["_decode_base64url_segment"].__func__
_OURS = jwt_patches._decode_base64url_segment
_STOCK_PREPARE = jwt_patches._stock_prepare_key
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!. \n\x00é"


def _outcome(check: Callable[[bytes, str], bytes], segment: bytes) -> bytes | str:
    try:
        decoded = check(segment, "payload")
    except DecodeError as exc:
        return f"DecodeError: {exc}"
    return decoded


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_same_answer_as_pyjwt_for_any_segment(text: str) -> None:
    segment = text.encode()
    ours = _outcome(_OURS, segment)
    assert ours == _outcome(_STOCK, segment)


@pytest.mark.parametrize("segment", [b"", b"e30", b"e30=", b"e30==", b"e30===", b"!!!!", b"e3=0"])
def test_same_answer_on_the_known_edges(segment: bytes) -> None:
    ours = _outcome(_OURS, segment)
    assert ours == _outcome(_STOCK, segment)


def test_installed_tokens_still_verify_and_forgeries_still_fail() -> None:
    jwt_patches.install()
    secret = secrets.token_hex(32)
    claims = {"sub": "u", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, secret, algorithm="HS256")
    assert jwt.decode(token, secret, algorithms=["HS256"])["sub"] == "u"
    header, payload, signature = token.split(".")
    with pytest.raises(DecodeError):
        jwt.decode(f"{header}.{payload}!.{signature}", secret, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, secret + "x", algorithms=["HS256"])


def test_the_hmac_key_is_vetted_as_before_and_remembered_only_when_accepted() -> None:
    jwt_patches.install()
    algorithm = HMACAlgorithm(HMACAlgorithm.SHA256)
    secret = secrets.token_hex(32)
    assert algorithm.prepare_key(secret) == _STOCK_PREPARE(algorithm, secret) == secret.encode()
    assert algorithm.prepare_key(secret) is algorithm.prepare_key(secret)  # remembered
    pem = b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"
    for _ in range(2):  # refused every time, not remembered
        with pytest.raises(InvalidKeyError):
            algorithm.prepare_key(pem)
    with pytest.raises(InvalidKeyError):
        algorithm.prepare_key(b'{"kty": "oct", "k": "c2VjcmV0"}')

"""A tiny multilingual Whisper model built here, so tests run faster-whisper for real (audio
decoding, mel features, a CTranslate2 Whisper encoder/decoder, language detection, segments)
without downloading weights.

The weights are random, so what it "hears" is meaningless words ("w123"): tests check the
pipeline and its shapes, never transcript quality (that needs a real model; see test_voice).
The layout follows CTranslate2's WhisperSpec (ctranslate2/specs/whisper_spec.py) and its
Transformers converter (WhisperLoader); the vocabulary is Whisper's multilingual one in shape:
50,257 text tokens, then <|endoftext|>, <|startoftranscript|>, 99 languages, the task and
control tokens and 1,501 timestamps (51,865 in all, which makes CTranslate2 treat it as
multilingual).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ctranslate2.specs import whisper_spec
from faster_whisper.tokenizer import _LANGUAGE_CODES
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

D_MODEL, HEADS, FFN, N_MELS = 64, 2, 128, 80
TEXT_TOKENS = 50_257
WORDS = 2_000  # text tokens 256.. that decode to " w<n>"
LANGUAGES = _LANGUAGE_CODES[:99]
CONTROL = [
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet (what tokenizers' ByteLevel decoder maps back)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def vocabulary() -> list[str]:
    byte_chars = _bytes_to_unicode()
    tokens = [byte_chars[b] for b in range(256)]
    tokens += [f"Ġw{i}" for i in range(WORDS)]
    tokens += [f"<|unused{i}|>" for i in range(TEXT_TOKENS - len(tokens))]
    specials = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{c}|>" for c in LANGUAGES)]
    specials += CONTROL + [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return tokens + specials


def _tokenizer(tokens: list[str]) -> Tokenizer:
    text = tokens[:TEXT_TOKENS]
    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(text)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(tokens[TEXT_TOKENS:])
    return tokenizer


def _linear(rng: np.random.Generator, out: int, inp: int) -> tuple[np.ndarray, np.ndarray]:
    return (rng.normal(0, 0.05, (out, inp)).astype(np.float32), np.zeros(out, np.float32))


def _norm(spec: object) -> None:
    spec.gamma = np.ones(D_MODEL, np.float32)  # type: ignore[attr-defined]
    spec.beta = np.zeros(D_MODEL, np.float32)  # type: ignore[attr-defined]


def _attention(rng: np.random.Generator, spec: object, cross: bool) -> None:
    _norm(spec.layer_norm)  # type: ignore[attr-defined]
    shapes = [(D_MODEL, D_MODEL), (2 * D_MODEL, D_MODEL)] if cross else [(3 * D_MODEL, D_MODEL)]
    shapes.append((D_MODEL, D_MODEL))
    for linear, (out, inp) in zip(spec.linear, shapes, strict=True):  # type: ignore[attr-defined]
        linear.weight, linear.bias = _linear(rng, out, inp)


def _ffn(rng: np.random.Generator, spec: object) -> None:
    _norm(spec.layer_norm)  # type: ignore[attr-defined]
    spec.linear_0.weight, spec.linear_0.bias = _linear(rng, FFN, D_MODEL)  # type: ignore[attr-defined]
    spec.linear_1.weight, spec.linear_1.bias = _linear(rng, D_MODEL, FFN)  # type: ignore[attr-defined]


def _sinusoids(length: int) -> np.ndarray:
    scales = np.exp(-np.log(10000) / (D_MODEL // 2 - 1) * np.arange(D_MODEL // 2))
    angles = np.arange(length)[:, None] * scales[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def build(folder: Path, seed: int = 7) -> Path:
    """Write a CTranslate2 Whisper model (and tokenizer.json) into `folder`; return it."""
    rng = np.random.default_rng(seed)
    tokens = vocabulary()
    spec = whisper_spec.WhisperSpec(1, HEADS, 1, HEADS)
    enc = spec.encoder
    enc.conv1.weight = rng.normal(0, 0.05, (D_MODEL, N_MELS, 3)).astype(np.float32)
    enc.conv1.bias = np.zeros(D_MODEL, np.float32)
    enc.conv2.weight = rng.normal(0, 0.05, (D_MODEL, D_MODEL, 3)).astype(np.float32)
    enc.conv2.bias = np.zeros(D_MODEL, np.float32)
    enc.position_encodings.encodings = _sinusoids(1500)
    _norm(enc.layer_norm)
    for layer in enc.layer:
        _attention(rng, layer.self_attention, cross=False)
        _ffn(rng, layer.ffn)
    dec = spec.decoder
    vocab = len(tokens)
    dec.embeddings.weight = rng.normal(0, 0.05, (vocab, D_MODEL)).astype(np.float32)
    dec.position_encodings.encodings = rng.normal(0, 0.01, (448, D_MODEL)).astype(np.float32)
    _norm(dec.layer_norm)
    for layer in dec.layer:
        _attention(rng, layer.self_attention, cross=False)
        _attention(rng, layer.attention, cross=True)
        _ffn(rng, layer.ffn)
    # Random weights, with a bias that makes words likelier than the end, so segments have text.
    weight, bias = _linear(rng, vocab, D_MODEL)
    bias[256 : 256 + WORDS] = 3.0
    bias[TEXT_TOKENS] = 2.0  # <|endoftext|>
    dec.projection.weight, dec.projection.bias = weight, bias
    spec.register_vocabulary(tokens)
    config = spec.config
    eot = TEXT_TOKENS
    config.suppress_ids = []
    config.suppress_ids_begin = [eot]
    config.lang_ids = list(range(eot + 2, eot + 2 + len(LANGUAGES)))
    config.alignment_heads = [(0, h) for h in range(HEADS)]
    spec.validate()
    spec.save(str(folder))
    _tokenizer(tokens).save(str(folder / "tokenizer.json"))
    (folder / "preprocessor_config.json").write_text(json.dumps({"feature_size": N_MELS}))
    return folder

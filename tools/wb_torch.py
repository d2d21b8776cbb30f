"""An independent PyTorch implementation of the weights-boundary score, the test oracle for wbound.

It shares no code with wbound: for each sample it runs DeepFool in weight space on a live
``torch.nn.Module`` with ``torch.func`` (``functional_call`` + ``jacrev``), moving **every**
``nn.Parameter`` (BatchNorm running statistics and other buffers stay fixed, the module in
``eval()`` mode), with the semantics of DESIGN.md §2 and wbound's ``deepfool.rs``:

    c0 = argmax f(x; w0)
    repeat at most `steps` times:
        stop if argmax f(x; w) != c0                 (crossed)
        stop if top1 - top2 <= eps                   (on the boundary)
        g_k = d(f_k - f_c0)/dw for every k != c0
        k* = argmin_k |f_k - f_c0| / ||g_k||_2        (rows with g_k != 0)
        w += |f_k* - f_c0| / ||g_k*||^2 * g_k*
    score = -||w - w0||_2

With ``labels`` it is the label-referenced score (``--reference label``): away from the label
when the model predicts it (score -distance), else towards it (the only candidate is the label,
the opponent each step the best other class; it stops when the label is the argmax or within eps
of the top logit; score +distance).

Usage::

    from wb_torch import wb_scores
    scores, distances, steps = wb_scores(model, x)            # x: a batch tensor [N, ...]
    scores, _, _ = wb_scores(model, x, labels=y)              # label-referenced

Not fast (one sample at a time, full Jacobians): it is a reference, not a peer benchmark.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, jacrev


def _flat(tree: dict[str, torch.Tensor], names: list[str], rows: int | None = None) -> torch.Tensor:
    if rows is None:
        return torch.cat([tree[n].reshape(-1) for n in names])
    return torch.cat([tree[n].reshape(rows, -1) for n in names], dim=1)


def wb_scores(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    steps: int = 100,
    eps: float = 1e-6,
    labels: torch.Tensor | np.ndarray | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, distances, steps) of every sample of ``x`` (float64, float64, int64 arrays).

    ``dtype`` runs the search in another precision (e.g. ``torch.float64``) on a copy of the model.
    Integer inputs (token ids) are passed through unchanged.
    """
    model = model.eval()
    if dtype is not None:
        import copy

        model = copy.deepcopy(model).to(dtype)
        if x.is_floating_point():
            x = x.to(dtype)
    params0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = list(params0)
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    sizes = [params0[n].numel() for n in names]
    shapes = [params0[n].shape for n in names]

    def unflat(v: torch.Tensor) -> dict[str, torch.Tensor]:
        out, off = {}, 0
        for n, s, shape in zip(names, sizes, shapes):
            out[n] = v[off : off + s].reshape(shape)
            off += s
        return out

    def logits(w: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (w, buffers), (xi.unsqueeze(0),)).reshape(-1)

    jac = jacrev(logits)
    w0 = _flat(params0, names)
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels)).long()
    scores, distances, counts = [], [], []
    with torch.no_grad():
        for i in range(x.shape[0]):
            xi = x[i]
            w = w0.clone()
            y = logits(unflat(w), xi)
            pred = int(torch.argmax(y))
            label = None if labels is None else int(labels[i])
            towards = label is not None and label != pred
            c0 = pred if label is None else label
            n_steps = 0
            stuck = False
            while True:
                top = int(torch.argmax(y))
                if not towards:
                    if top != c0:
                        break
                    srt = torch.sort(y, descending=True).values
                    if float(srt[0] - srt[1]) <= eps:
                        break
                    ref, cands = c0, [k for k in range(y.numel()) if k != c0]
                else:
                    if top == label:
                        break
                    if float(y[top] - y[label]) <= eps:
                        break
                    others = y.clone()
                    others[label] = -float("inf")
                    ref, cands = int(torch.argmax(others)), [label]
                if n_steps == steps:
                    break
                with torch.enable_grad():
                    j = jac(unflat(w), xi)
                jm = _flat(j, names, rows=y.numel())
                best = None
                for k in cands:
                    g = jm[k] - jm[ref]
                    nrm = float(torch.linalg.vector_norm(g.double()))
                    if nrm > 0:
                        ratio = abs(float(y[k] - y[ref])) / nrm
                        if best is None or ratio < best[0]:
                            best = (ratio, k, g, nrm)
                if best is None:
                    stuck = True
                    break
                _, k, g, nrm = best
                delta = abs(float(y[k] - y[ref]))
                w = w + (delta / (nrm * nrm)) * g
                n_steps += 1
                y = logits(unflat(w), xi)
            d = float("inf") if stuck else float(torch.linalg.vector_norm((w - w0).double()))
            distances.append(d)
            scores.append(d if towards else (-d if d != 0 else 0.0))
            counts.append(n_steps)
    return np.array(scores), np.array(distances), np.array(counts, dtype=np.int64)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of scalars in the module's ``nn.Parameter``s (what wbound must move)."""
    return sum(p.numel() for p in model.parameters())

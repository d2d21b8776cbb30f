"""A batched torch.func peer of ``wbound score`` (issue 14): the same score on the same models, as a
skilled PyTorch user would write it, and the ratio of its time to wbound's. Not run in CI.

For a batch of samples at once: every sample has its own copy of the parameters (``[B, ...]``
per tensor); each DeepFool step takes the logits of the samples still searching with
``vmap(functional_call)``, their full Jacobians with ``vmap(jacrev(...))``, the norms of all
``g_k = ∇f_k − ∇f_c0`` rows, the minimising ``k`` and the update, masks deciding which samples
stop (crossed, on the boundary, step limit, stuck). Semantics of ``tools/wb_torch.py`` (the
reference: L2, prediction-referenced, every ``nn.Parameter`` moved, buffers fixed, ``eval()``).

The models are the large cases of ``tools/make_large_models.py`` (built from the same seed, so
they are the ONNX files' modules); wbound runs on those files. Both use the same thread count
(``torch.set_num_threads`` and ``--threads``); wbound is timed as a whole process (start-up and
model loading included), the peer from its first step (model building excluded).

Usage::

    /work/pyenv/bin/python tools/peer_torch_func.py                       # all large cases
    /work/pyenv/bin/python tools/peer_torch_func.py resnet18 --samples 4 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import io
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_large_models import CASES, DEFAULT_OUT, build  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def wb_scores_batched(model: torch.nn.Module, x: torch.Tensor, steps: int = 100, eps: float = 1e-6):
    """(scores, steps) of every sample of ``x``, all samples searched together."""
    names = [n for n, _ in model.named_parameters()]
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    n = x.shape[0]
    w0 = {k: p.detach() for k, p in model.named_parameters()}
    w = {k: p.unsqueeze(0).repeat(n, *([1] * p.dim())).clone() for k, p in w0.items()}

    def f(params: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (params, buffers), (xi.unsqueeze(0),)).reshape(-1)

    logits = vmap(f)
    jac = vmap(jacrev(f))
    with torch.no_grad():
        y = logits(w, x)
        c0 = y.argmax(1)
        active = torch.ones(n, dtype=torch.bool)
        stuck = torch.zeros(n, dtype=torch.bool)
        count = torch.zeros(n, dtype=torch.long)
        for _ in range(steps + 1):
            top2 = y.topk(2, dim=1).values
            stop = (y.argmax(1) != c0) | (top2[:, 0] - top2[:, 1] <= eps) | (count == steps)
            active &= ~stop
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            wa = {k: v[idx] for k, v in w.items()}
            with torch.enable_grad():
                j = jac(wa, x[idx])  # name -> [b, C, *shape]
            ca = c0[idx]
            rows = torch.arange(idx.numel())
            sq = torch.zeros(idx.numel(), y.shape[1], dtype=torch.float64)
            for k in names:
                g = j[k].flatten(2)
                g = g - g[rows, ca].unsqueeze(1)
                sq += (g.double() ** 2).sum(2)
            ya = y[idx]
            gap = (ya - ya[rows, ca].unsqueeze(1)).abs().double()
            nrm = sq.sqrt()
            ratio = torch.where(nrm > 0, gap / nrm, torch.full_like(nrm, float("inf")))
            ratio[rows, ca] = float("inf")
            best = ratio.argmin(1)
            none = torch.isinf(ratio[rows, best])
            stuck[idx[none]] = True
            active[idx[none]] = False
            scale = (gap[rows, best] / sq[rows, best]).float()
            scale[none] = 0.0
            for k in names:
                g = j[k][rows, best] - j[k][rows, ca]
                w[k][idx] += scale.view(-1, *([1] * (g.dim() - 1))) * g
            count[idx[~none]] += 1
            y[idx] = logits({k: v[idx] for k, v in w.items()}, x[idx])
        d2 = torch.zeros(n, dtype=torch.float64)
        for k in names:
            d2 += ((w[k] - w0[k].unsqueeze(0)).double().flatten(1) ** 2).sum(1)
        d = d2.sqrt()
        d[stuck] = float("inf")
    return (-d).numpy(), count.numpy()


def run_wbound(model: str, x: np.ndarray, threads: int, binary: pathlib.Path) -> tuple[float, np.ndarray]:
    """Seconds of ``wbound score`` on ``model`` and ``x`` as a whole process, and its scores.

    The scores go to standard output (``--out -``): a file output ends with an fsync, whose
    latency on a virtual disk (up to seconds seen) is not the scoring's."""
    with tempfile.TemporaryDirectory() as tmp:
        xs = pathlib.Path(tmp) / "x.npy"
        np.save(xs, x)
        cmd = [str(binary), "score", "-q", "--threads", str(threads), "--model", str(model), "--inputs", str(xs),
               "--out", "-"]
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        secs = time.perf_counter() - t
    scores = np.array([float(r["score"]) for r in csv.DictReader(io.StringIO(out))])
    return secs, scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="some of " + ", ".join(CASES) + " (default: all)")
    ap.add_argument("--samples", type=int, default=4, help="samples per case (one batch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--wbound", type=pathlib.Path, default=ROOT / "target" / "release" / "wbound")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'case':10} {'samples':>7} {'torch.func s/sample':>20} {'wbound s/sample':>16} {'ratio':>7}"
          f" {'max |score diff| / |score|':>27}")
    for case in args.cases or CASES:
        if case not in CASES:
            ap.error(f"unknown case {case!r}")
        if not (DEFAULT_OUT / f"{case}.onnx").exists():
            ap.error(f"{DEFAULT_OUT / case}.onnx is absent: run tools/make_large_models.py")
        model, x = build(case)
        x = x[: args.samples]
        t = time.perf_counter()
        peer, _ = wb_scores_batched(model, x, steps=args.steps)
        peer_s = time.perf_counter() - t
        wb_s, wb = run_wbound(str(DEFAULT_OUT / f"{case}.onnx"), x.numpy(), args.threads, args.wbound)
        rel = float(np.max(np.abs(peer - wb) / np.maximum(np.abs(wb), 1e-30)))
        n = x.shape[0]
        print(f"{case:10} {n:7d} {peer_s / n:20.3f} {wb_s / n:16.3f} {peer_s / wb_s:7.1f} {rel:27.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

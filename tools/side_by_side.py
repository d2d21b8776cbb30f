"""wbound against influenciae, a batched torch.func peer and a batched JAX peer, in one run on one
machine (issue 14): the same score on the same Keras models, each implementation timed on the same
samples and compared with wbound's scores. Not run in CI.

The cases are the reference Keras models (``tests/fixtures/{mlp,cnn}``, ``perf/cnn32``): their
layers are written below, their weights read from the fixtures' ``weights.npz``, and each framework
builds the same network from them —

- **influenciae** 0.3.0: ``WeightsBoundaryCalculator(model, 100, 2, 1e-6)`` on the Keras model
  (``tf_keras``; its ``_compute_influence_values`` on a ``tf.data`` pipeline of batches of 32, as
  the reference runs were timed; the first call traces its graph and is timed with the rest);
- **torch.func**: ``tools/peer_torch_func.py``'s batched search (``vmap(functional_call)``,
  ``vmap(jacrev)``, masks) on a torch module of the same layers (NHWC, as Keras);
- **JAX**: the same search with ``jit(vmap(jacrev))``, fixed shapes (every sample of the batch
  goes through each step; the finished ones are masked), compilation timed with the run;
- **wbound**: ``wbound score --threads T`` on the fixture's ONNX file (``model_bias.onnx`` for
  cnn32), as a whole process (the median of three runs).

Each peer runs in a process of its own (TensorFlow's and XLA's LLVM cannot share one), timed from
its first call (framework imports excluded, model building and graph tracing or compilation
included). Every implementation gets the same thread count where it has a knob (torch, wbound; TensorFlow's
and XLA's intra-op pools are set from ``--threads`` too). Each peer is called twice in its process:
the first call pays tracing and compilation, the second (warm) does not; both are printed as
seconds per sample, the first against wbound's whole process on the same samples, the second
against wbound's cost per sample beyond its start-up (a run on the samples ten times over, less
the run on them once, per extra sample), with the largest relative score difference from wbound.

One large model joins them when ``tools/make_large_models.py`` has written it: torchvision's
ResNet-18 at 32×32 (11.2 M parameters), with the torch.func peer on the torch module itself and
the JAX peer on a JAX transcription of it (``resnet18_jax``, checked against the module's
logits); influenciae needs a Keras model and sits that case out.

Usage::

    /work/pyenv/bin/python tools/side_by_side.py                  # every case, 2 threads
    /work/pyenv/bin/python tools/side_by_side.py cnn --threads 1 --only torch.func,jax

Needs torch, jax, tensorflow with tf_keras and influenciae (installed with ``--no-deps``: its
metadata pins a TensorFlow too old for Python 3.11, and it runs on current TensorFlow's Keras 2).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "tools"))

# (layers, fixture folder, ONNX file in it, samples): a layer is ("conv", name), ("pool",), ("flatten",),
# ("dense", name, relu). Convolutions are 3×3 "same" with ReLU, pools 2×2 — the reference models.
CASES = {
    "mlp": ([("dense", "fc1", True), ("dense", "fc2", False)], FIX / "mlp", "model.onnx", 300),
    "cnn": (
        [("conv", "conv1"), ("pool",), ("conv", "conv2"), ("flatten",), ("dense", "fc", False)],
        FIX / "cnn",
        "model.onnx",
        300,
    ),
    "cnn32": (
        [("conv", "conv1"), ("pool",), ("conv", "conv2"), ("pool",), ("flatten",), ("dense", "fc1", True),
         ("dense", "fc2", False)],
        FIX / "perf" / "cnn32",
        "model_bias.onnx",
        16,
    ),
}
PEERS = ("influenciae", "torch.func", "jax")
# Large models of tools/make_large_models.py with a JAX transcription, and their samples.
LARGE = {"resnet18": 4}


def resnet18_jax(model):
    """A JAX forward of torchvision's ResNet-18 (``eval()``: BatchNorm with its running
    statistics) and the module's parameters by name; the statistics stay fixed."""
    import jax
    import jax.numpy as jnp

    params = {k: np.asarray(v.detach()) for k, v in model.named_parameters()}
    stats = {k: jnp.asarray(v.detach().numpy()) for k, v in model.named_buffers() if v.dtype.is_floating_point}

    def conv(x, w, stride, pad):
        return jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                            dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def bn(x, p, name):
        scale = jax.lax.rsqrt(stats[f"{name}.running_var"] + 1e-5) * p[f"{name}.weight"]
        shift = p[f"{name}.bias"] - stats[f"{name}.running_mean"] * scale
        return x * scale[:, None, None] + shift[:, None, None]

    def forward(p, x):
        x = jax.nn.relu(bn(conv(x, p["conv1.weight"], 2, 3), p, "bn1"))
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 3, 3), (1, 1, 2, 2),
                                  ((0, 0), (0, 0), (1, 1), (1, 1)))
        for layer in range(1, 5):
            for block in range(2):
                pre = f"layer{layer}.{block}"
                stride = 2 if layer > 1 and block == 0 else 1
                h = jax.nn.relu(bn(conv(x, p[f"{pre}.conv1.weight"], stride, 1), p, f"{pre}.bn1"))
                h = bn(conv(h, p[f"{pre}.conv2.weight"], 1, 1), p, f"{pre}.bn2")
                if f"{pre}.downsample.0.weight" in p:
                    x = bn(conv(x, p[f"{pre}.downsample.0.weight"], stride, 0), p, f"{pre}.downsample.1")
                x = jax.nn.relu(h + x)
        return x.mean(axis=(2, 3)) @ p["fc.weight"].T + p["fc.bias"]

    return forward, params


def run_large(peer: str, case: str, n: int, threads: int) -> np.ndarray:
    """One peer's scores of the first ``n`` samples of a large model."""
    import torch
    from make_large_models import build
    from peer_torch_func import wb_scores_batched

    model, x = build(case)
    x = x[:n]
    if peer == "torch.func":
        torch.set_num_threads(threads)
        return wb_scores_batched(model, x)[0]
    set_xla_threads(threads)
    forward, params = resnet18_jax(model)
    return wb_scores_jax(forward, params, x.numpy())[0]


def load(case: str) -> tuple[list, dict[str, np.ndarray], np.ndarray, pathlib.Path]:
    layers, folder, model, _ = CASES[case]
    w = np.load(folder / "weights.npz")
    weights = {k.split(":")[0]: w[k] for k in w.files}  # "fc1/kernel"
    return layers, weights, np.load(folder / "x.npy").astype(np.float32), folder / model


def run_influenciae(layers, weights, x, threads: int) -> np.ndarray:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from deel.influenciae.boundary_based import WeightsBoundaryCalculator

    L = tf.keras.layers
    seq = [L.Input(x.shape[1:])]
    for layer in layers:
        if layer[0] == "conv":
            seq.append(L.Conv2D(weights[f"{layer[1]}/bias"].shape[0], 3, padding="same", activation="relu",
                                name=layer[1]))
        elif layer[0] == "pool":
            seq.append(L.MaxPool2D(2))
        elif layer[0] == "flatten":
            seq.append(L.Flatten())
        else:
            seq.append(L.Dense(weights[f"{layer[1]}/bias"].shape[0], activation="relu" if layer[2] else None,
                               name=layer[1]))
    model = tf.keras.Sequential(seq)
    for v in model.trainable_variables:
        v.assign(weights[v.name.split(":")[0]])
    calc = WeightsBoundaryCalculator(model, step_nbr=100, norm_type=2, eps=1e-6)
    labels = np.zeros(len(x), dtype=np.int64)  # influenciae scores against the prediction
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(32)
    return np.asarray(calc._compute_influence_values(ds)).reshape(-1)


def torch_module(layers, weights):
    import torch
    import torch.nn.functional as F

    class Keras(torch.nn.Module):
        """The Keras layers on NHWC inputs; parameters named ``<layer>_kernel`` / ``<layer>_bias``."""

        def __init__(self):
            super().__init__()
            for k, v in weights.items():
                setattr(self, k.replace("/", "_"), torch.nn.Parameter(torch.from_numpy(v.copy())))

        def forward(self, x):
            nchw = False
            for layer in layers:
                if layer[0] == "conv":
                    x = x if nchw else x.permute(0, 3, 1, 2)
                    nchw = True
                    k = getattr(self, f"{layer[1]}_kernel").permute(3, 2, 0, 1)
                    x = F.conv2d(x, k, getattr(self, f"{layer[1]}_bias"), padding="same").relu()
                elif layer[0] == "pool":
                    x = F.max_pool2d(x, 2)
                elif layer[0] == "flatten":
                    x = (x.permute(0, 2, 3, 1) if nchw else x).flatten(1)
                else:
                    x = x @ getattr(self, f"{layer[1]}_kernel") + getattr(self, f"{layer[1]}_bias")
                    x = x.relu() if layer[2] else x
            return x

    return Keras().eval()


def run_torch(layers, weights, x, threads: int) -> np.ndarray:
    import torch
    from peer_torch_func import wb_scores_batched

    torch.set_num_threads(threads)
    scores, _ = wb_scores_batched(torch_module(layers, weights), torch.from_numpy(x))
    return scores


def jax_forward(layers):
    import jax
    import jax.numpy as jnp

    def forward(p, x):
        for layer in layers:
            if layer[0] == "conv":
                x = jax.lax.conv_general_dilated(x, p[f"{layer[1]}/kernel"], (1, 1), "SAME",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                x = jax.nn.relu(x + p[f"{layer[1]}/bias"])
            elif layer[0] == "pool":
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            elif layer[0] == "flatten":
                x = x.reshape(x.shape[0], -1)
            else:
                x = x @ p[f"{layer[1]}/kernel"] + p[f"{layer[1]}/bias"]
                x = jax.nn.relu(x) if layer[2] else x
        return x

    return forward


def wb_scores_jax(forward, params: dict[str, np.ndarray], x: np.ndarray, steps: int = 100, eps: float = 1e-6):
    """(scores, steps) of every sample of ``x``, all searched together with fixed shapes."""
    import jax
    import jax.numpy as jnp

    n = x.shape[0]
    xs = jnp.asarray(x)
    w0 = {k: jnp.asarray(v) for k, v in params.items()}
    w = {k: jnp.broadcast_to(v, (n, *v.shape)) for k, v in w0.items()}

    def f(p, xi):
        return forward(p, xi[None]).reshape(-1)

    logits = jax.jit(jax.vmap(f))
    jac = jax.vmap(jax.jacrev(f))

    @jax.jit
    def step(w, y, c0, active):
        j = jac(w, xs)
        rows = jnp.arange(n)
        sq = jnp.zeros(y.shape, jnp.float32)
        for k in w:
            g = j[k].reshape(n, y.shape[1], -1)
            g = g - g[rows, c0][:, None]
            sq = sq + (g * g).sum(2)
        gap = jnp.abs(y - y[rows, c0][:, None])
        nrm = jnp.sqrt(sq)
        ratio = jnp.where(nrm > 0, gap / nrm, jnp.inf).at[rows, c0].set(jnp.inf)
        best = ratio.argmin(1)
        none = jnp.isinf(ratio[rows, best])
        scale = jnp.where(none | ~active, 0.0, gap[rows, best] / sq[rows, best])
        w = {k: v + scale.reshape(-1, *([1] * (v.ndim - 1))) * (j[k][rows, best] - j[k][rows, c0]) for k, v in w.items()}
        y = jnp.where(active[:, None], logits(w, xs), y)
        return w, y, none

    y = logits(w, xs)
    c0 = y.argmax(1)
    active = jnp.ones(n, bool)
    stuck = jnp.zeros(n, bool)
    count = jnp.zeros(n, jnp.int32)
    for _ in range(steps + 1):
        top2 = jax.lax.top_k(y, 2)[0]
        stop = (y.argmax(1) != c0) | (top2[:, 0] - top2[:, 1] <= eps) | (count == steps)
        active = active & ~stop
        if not bool(active.any()):
            break
        w, y, none = step(w, y, c0, active)
        stuck = stuck | (none & active)
        count = count + (active & ~none)
        active = active & ~none
    d2 = np.zeros(n)
    for k in w:
        d2 += ((np.asarray(w[k], np.float64) - np.asarray(w0[k], np.float64)[None]) ** 2).reshape(n, -1).sum(1)
    d = np.sqrt(d2)
    d[np.asarray(stuck)] = np.inf
    return -d, np.asarray(count)


def set_xla_threads(threads: int) -> None:
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                                       f"intra_op_parallelism_threads={threads}")


def run_jax(layers, weights, x, threads: int) -> np.ndarray:
    set_xla_threads(threads)
    scores, _ = wb_scores_jax(jax_forward(layers), weights, x)
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="some of " + ", ".join([*CASES, *LARGE]) + " (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, help="samples per case (default: 300 for mlp and cnn, 16 for cnn32)")
    ap.add_argument("--only", default=",".join(PEERS), help="the peers to run, comma-separated")
    ap.add_argument("--wbound", type=pathlib.Path, default=ROOT / "target" / "release" / "wbound")
    ap.add_argument("--as-peer", help=argparse.SUPPRESS)  # a child process: run one peer on one case
    ap.add_argument("--scores-out", type=pathlib.Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    peers = [p for p in args.only.split(",") if p]
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}: one of {', '.join(PEERS)}")
    runners = {"influenciae": run_influenciae, "torch.func": run_torch, "jax": run_jax}
    if args.as_peer:
        case = args.cases[0]
        if case in LARGE:
            call = lambda: run_large(args.as_peer, case, args.samples, args.threads)  # noqa: E731
        else:
            layers, weights, x, _ = load(case)
            x = x[: args.samples or CASES[case][3]]
            call = lambda: runners[args.as_peer](layers, weights, x, args.threads)  # noqa: E731
        times = []
        for _ in range(2):  # a first call (tracing, compilation), then a warm one
            t = time.perf_counter()
            scores = call()
            times.append(time.perf_counter() - t)
        np.save(args.scores_out, np.append(scores, times))
        return 0
    print(f"{'case':6} {'samples':>7} {'implementation':>14} {'s/sample':>10} {'÷ wbound':>9} "
          f"{'2nd call':>10} {'÷ wbound':>9} {'max |Δscore| / |score|':>23}", flush=True)
    from make_large_models import DEFAULT_OUT
    from peer_torch_func import run_wbound

    present = [c for c in LARGE if (DEFAULT_OUT / f"{c}.onnx").exists()]
    for case in args.cases or [*CASES, *present]:
        if case in LARGE:
            if case not in present:
                ap.error(f"{DEFAULT_OUT / case}.onnx is absent: run tools/make_large_models.py")
            from make_large_models import build

            x = build(case)[1][: args.samples or LARGE[case]].numpy()
            model = DEFAULT_OUT / f"{case}.onnx"
        elif case in CASES:
            layers, weights, x, model = load(case)
            x = x[: args.samples or CASES[case][3]]
        else:
            ap.error(f"unknown case {case!r}")
        n = len(x)
        # The median of three runs each (one run can catch a cold file cache).
        runs = [run_wbound(str(model), x, args.threads, args.wbound) for _ in range(3)]
        wb_s, wb = float(np.median([r[0] for r in runs])), runs[0][1]
        # wbound's cost per sample beyond its start-up: the same samples ten times over.
        tiled = np.concatenate([x] * 10)
        wb10_s = float(np.median([run_wbound(str(model), tiled, args.threads, args.wbound)[0] for _ in range(3)]))
        marginal = (wb10_s - wb_s) / (9 * n)
        print(f"{case:6} {n:7d} {'wbound':>14} {wb_s / n:10.2e} {1.0:9.1f} {marginal:10.2e} {1.0:9.1f} "
              f"{0.0:23.1e}", flush=True)
        for p in peers:
            if case in LARGE and p == "influenciae":
                print(f"{case:6} {n:7d} {p:>14}   (needs a Keras model; none for this case)", flush=True)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                out = pathlib.Path(tmp) / "scores.npy"
                subprocess.run([sys.executable, __file__, case, "--as-peer", p, "--scores-out", str(out),
                                "--threads", str(args.threads), "--samples", str(n)], check=True,
                               stderr=subprocess.DEVNULL)
                got = np.load(out)
            scores, (first, warm) = got[:-2], got[-2:]
            rel = float(np.max(np.abs(scores - wb) / np.maximum(np.abs(wb), 1e-30)))
            print(f"{case:6} {n:7d} {p:>14} {first / n:10.2e} {first / wb_s:9.1f} {warm / n:10.2e} "
                  f"{warm / n / marginal:9.1f} {rel:23.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

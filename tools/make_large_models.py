"""Exports the large benchmark models (issue 14) to ONNX with random weights and a fixed seed.

Four cases, each the size of a model people clean data with, into a git-ignored folder
(``tests/fixtures/large/`` by default; the files are 18–45 MB each):

- ``resnet18``: torchvision ``resnet18(num_classes=10)`` on 3×32×32 (11.2 M parameters);
- ``convnext``: a ConvNeXt-style net of torchvision ``CNBlock``\\ s on 3×32×32 (stem 2×2/2 to 64
  channels, 2 blocks, downsample to 128, 2 blocks, downsample to 256, 2 blocks; GAP, LayerNorm,
  Linear to 10);
- ``vit_tiny``: torchvision ``VisionTransformer`` with ViT-Ti's widths (dim 192, depth 12, 3 heads,
  MLP 768) on 3×32×32 with 4×4 patches (65 tokens), 10 classes;
- ``bert_tiny``: BERT-tiny's widths (Turc et al.: vocab 30522, hidden 128, 2 layers, 2 heads,
  intermediate 512) on 64 token ids, pooler and a 4-class head, written in plain torch (no
  ``transformers`` in this environment).

Every export is the legacy exporter (``dynamo=False``, opset 17, dynamic batch axis) with
BatchNorm kept as its own layer (``training=TrainingMode.PRESERVE, do_constant_folding=False``),
checked against onnxruntime. Beside each ``<case>.onnx``: ``<case>_x.npy`` (32 samples; float32
N(0, 1) images or int64 token ids).

``build(case)`` returns ``(module, x)`` for other tools (``tools/peer_torch_func.py``).

Usage::

    /work/pyenv/bin/python tools/make_large_models.py                 # all four
    /work/pyenv/bin/python tools/make_large_models.py resnet18 --out DIR
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np
import torch

SEED = 14
N_SAMPLES = 32
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "large"


def make_resnet18() -> torch.nn.Module:
    import torchvision

    return torchvision.models.resnet18(num_classes=10)


class ConvNextSmall(torch.nn.Module):
    """Three stages of torchvision ``CNBlock``\\ s (64, 128, 256 channels, two blocks each) on 32×32."""

    def __init__(self, dims=(64, 128, 256), depth: int = 2, classes: int = 10):
        super().__init__()
        from torchvision.models.convnext import CNBlock, LayerNorm2d

        layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, dims[0], 2, stride=2), LayerNorm2d(dims[0], eps=1e-6)]
        for i, d in enumerate(dims):
            if i > 0:
                layers += [LayerNorm2d(dims[i - 1], eps=1e-6), torch.nn.Conv2d(dims[i - 1], d, 2, stride=2)]
            layers += [CNBlock(d, layer_scale=1e-1, stochastic_depth_prob=0.0) for _ in range(depth)]
        self.features = torch.nn.Sequential(*layers)
        self.norm = LayerNorm2d(dims[-1], eps=1e-6)
        self.head = torch.nn.Linear(dims[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1))
        return self.head(x.flatten(1))


def make_vit_tiny() -> torch.nn.Module:
    from torchvision.models import VisionTransformer

    return VisionTransformer(
        image_size=32, patch_size=4, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768, num_classes=10
    )


class BertLayer(torch.nn.Module):
    """Post-norm encoder layer: self-attention (hand-written, so the export is plain MatMul/Softmax),
    residual, LayerNorm, GELU feed-forward, residual, LayerNorm."""

    def __init__(self, hidden: int, heads: int, inter: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (torch.nn.Linear(hidden, hidden) for _ in range(3))
        self.o = torch.nn.Linear(hidden, hidden)
        self.ln1 = torch.nn.LayerNorm(hidden, eps=1e-12)
        self.ff1 = torch.nn.Linear(hidden, inter)
        self.ff2 = torch.nn.Linear(inter, hidden)
        self.ln2 = torch.nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, s, d = h.shape
        dh = d // self.heads

        def split(t):
            return t.reshape(n, s, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(n, s, d)
        h = self.ln1(h + self.o(ctx))
        return self.ln2(h + self.ff2(torch.nn.functional.gelu(self.ff1(h))))


class BertTiny(torch.nn.Module):
    """BERT-tiny's widths: token and position embeddings, LayerNorm, 2 layers, tanh pooler on the
    first token, a linear head."""

    def __init__(self, vocab=30522, hidden=128, layers=2, heads=2, inter=512, seq=64, classes=4):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, hidden)
        self.pos = torch.nn.Parameter(torch.randn(1, seq, hidden) * 0.02)
        self.ln = torch.nn.LayerNorm(hidden, eps=1e-12)
        self.layers = torch.nn.ModuleList(BertLayer(hidden, heads, inter) for _ in range(layers))
        self.pool = torch.nn.Linear(hidden, hidden)
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.ln(self.tok(ids) + self.pos)
        for layer in self.layers:
            h = layer(h)
        return self.head(torch.tanh(self.pool(h[:, 0])))


def image_samples(g: torch.Generator) -> torch.Tensor:
    return torch.randn(N_SAMPLES, 3, 32, 32, generator=g)


def token_samples(g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 30522, (N_SAMPLES, 64), generator=g)


CASES = {
    "resnet18": (make_resnet18, image_samples),
    "convnext": (ConvNextSmall, image_samples),
    "vit_tiny": (make_vit_tiny, image_samples),
    "bert_tiny": (BertTiny, token_samples),
}


def randomize(model: torch.nn.Module, g: torch.Generator) -> None:
    """Every parameter non-zero and BatchNorm statistics non-trivial, so no weight is special."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() <= 1 or not p.any():
                # Biases, norm affine, and what torchvision starts at zero (ViT's head, class token).
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1.0 + 0.2 * torch.rand(m.running_var.shape, generator=g))


def build(case: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """The case's torch module (random weights, ``eval()``) and its samples, from the fixed seed."""
    maker, samples = CASES[case]
    torch.manual_seed(SEED)
    model = maker()
    g = torch.Generator().manual_seed(SEED)
    randomize(model, g)
    return model.eval(), samples(g)


def export(case: str, out: pathlib.Path) -> None:
    import onnxruntime as ort

    model, x = build(case)
    path = out / f"{case}.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (x[:2],),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False,
        )
        want = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    diff = float(np.abs(got - want).max())
    assert diff < 1e-3, f"{case}: onnxruntime differs from torch by {diff}"
    np.save(out / f"{case}_x.npy", x.numpy())
    params = sum(p.numel() for p in model.parameters())
    print(f"{case}: {params:,} parameters, {path.stat().st_size / 1e6:.1f} MB, onnxruntime max |diff| {diff:.1e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="some of " + ", ".join(CASES) + " (default: all)")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for case in args.cases or CASES:
        if case not in CASES:
            ap.error(f"unknown case {case!r}")
        export(case, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

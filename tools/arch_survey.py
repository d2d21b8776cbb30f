"""Which real architectures wbound imports (and, with --score, scores like PyTorch): a survey tool.

Not a test. It builds ~26 classifiers the way users get them (torchvision, timm, transformers,
torch.nn, keras.applications; 10 classes, small inputs, random weights as freshly constructed),
exports each the ways people export them:

- ``legacy-folded``: ``torch.onnx.export(dynamo=False, opset_version=17)`` (BatchNorm folded);
- ``legacy-kept``: the same with ``training=PRESERVE, do_constant_folding=False`` (BatchNorm kept);
- ``dynamo``: ``torch.onnx.export(dynamo=True)`` (its optimizer on: BatchNorm folded, zero biases
  deleted);
- ``tf2onnx``: ``tf2onnx.convert.from_keras(..., opset=13)`` for the Keras models;

and runs ``wbound inspect --model FILE`` on every file: imported or not, the error's first line, the
unsupported ops and the trainable count. With ``--score N`` it also runs ``wbound score`` on N
samples and compares with ``tools/wb_torch.py`` on the torch module (relative error of the scores,
Spearman, inspect's trainable count vs the torch parameter count).

Each architecture is built and exported in its own subprocess (memory, crashes); the ONNX files go to
``--out`` (default a temporary folder; they are big: never commit them) and are deleted after use
unless ``--keep``. Prints a markdown table; ``--markdown FILE`` also writes it there.

    /work/pyenv/bin/python tools/arch_survey.py --wbound target/release/wbound [--score 8] [--only resnet18 bert]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
N_CLASSES = 10
TORCH_EXPORTERS = ("legacy-folded", "legacy-kept", "dynamo")


# --------------------------------------------------------------------------- architectures


def _tv(name, size=32, **kw):
    def build():
        import torchvision

        return getattr(torchvision.models, name)(weights=None, num_classes=N_CLASSES, **kw), ("float", (3, size, size))

    return build


def _timm(name, size=32, **kw):
    def build():
        import timm

        return timm.create_model(name, pretrained=False, num_classes=N_CLASSES, **kw), ("float", (3, size, size))

    return build


def _hf_logits(model, argument: str):
    """A transformers classifier called with its one input as ``argument``, returning the logits."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(**{argument: x}).logits

    return Logits(model)


def _hf_text(kind):
    def build():
        import transformers

        if kind == "bert":
            cfg = transformers.BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                          intermediate_size=64, max_position_embeddings=64, num_labels=N_CLASSES)
            model = transformers.BertForSequenceClassification(cfg)
        else:
            cfg = transformers.DistilBertConfig(vocab_size=1000, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                                max_position_embeddings=64, num_labels=N_CLASSES)
            model = transformers.DistilBertForSequenceClassification(cfg)

        return _hf_logits(model, "input_ids"), ("tokens", (16,), 1000)

    return build


def _hf_vit():
    import transformers

    cfg = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, num_labels=N_CLASSES)
    return _hf_logits(transformers.ViTForImageClassification(cfg), "pixel_values"), ("float", (3, 32, 32))


def _nn(kind):
    def build():
        import torch

        nn = torch.nn
        if kind == "lstm":
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.rnn = nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True)
                    self.fc = nn.Linear(64, N_CLASSES)

                def forward(self, x):
                    return self.fc(self.rnn(x)[0][:, -1])

            return M(), ("float", (20, 16))
        if kind == "gru":
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = nn.Embedding(500, 32)
                    self.rnn = nn.GRU(32, 32, batch_first=True)
                    self.fc = nn.Linear(32, N_CLASSES)

                def forward(self, x):
                    return self.fc(self.rnn(self.emb(x))[0][:, -1])

            return M(), ("tokens", (20,), 500)
        m = nn.Sequential(
            nn.Conv1d(1, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(32, N_CLASSES))
        return m, ("float", (1, 128))

    return build


def _keras(name):
    def build():
        import keras

        return getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=N_CLASSES), \
            ("float", (32, 32, 3))

    return build


# name: (source, builder, exporters)
ARCHS = {
    "resnet18": ("torchvision", _tv("resnet18"), TORCH_EXPORTERS),
    "resnet50": ("torchvision", _tv("resnet50"), TORCH_EXPORTERS),
    "mobilenet_v2": ("torchvision", _tv("mobilenet_v2"), TORCH_EXPORTERS),
    "mobilenet_v3_small": ("torchvision", _tv("mobilenet_v3_small"), TORCH_EXPORTERS),
    "efficientnet_b0": ("torchvision", _tv("efficientnet_b0"), TORCH_EXPORTERS),
    "densenet121": ("torchvision", _tv("densenet121"), TORCH_EXPORTERS),
    "shufflenet_v2_x0_5": ("torchvision", _tv("shufflenet_v2_x0_5"), TORCH_EXPORTERS),
    "squeezenet1_1": ("torchvision", _tv("squeezenet1_1"), TORCH_EXPORTERS),
    "googlenet": ("torchvision", _tv("googlenet", aux_logits=False, init_weights=True), TORCH_EXPORTERS),
    "regnet_y_400mf": ("torchvision", _tv("regnet_y_400mf"), TORCH_EXPORTERS),
    "mnasnet0_5": ("torchvision", _tv("mnasnet0_5"), TORCH_EXPORTERS),
    "convnext_tiny": ("torchvision", _tv("convnext_tiny"), TORCH_EXPORTERS),
    "vit_b_16@32": ("torchvision", _tv("vit_b_16", image_size=32), TORCH_EXPORTERS),
    "swin_t": ("torchvision", _tv("swin_t"), TORCH_EXPORTERS),
    "deit_tiny@32": ("timm", _timm("deit_tiny_patch16_224", img_size=32), TORCH_EXPORTERS),
    "resnet10t": ("timm", _timm("resnet10t"), TORCH_EXPORTERS),
    "efficientnet_lite0": ("timm", _timm("efficientnet_lite0"), TORCH_EXPORTERS),
    "bert-tiny": ("transformers", _hf_text("bert"), TORCH_EXPORTERS),
    "distilbert-tiny": ("transformers", _hf_text("distilbert"), TORCH_EXPORTERS),
    "vit-tiny": ("transformers", _hf_vit, TORCH_EXPORTERS),
    "lstm": ("torch.nn", _nn("lstm"), TORCH_EXPORTERS),
    "gru": ("torch.nn", _nn("gru"), TORCH_EXPORTERS),
    "conv1d": ("torch.nn", _nn("conv1d"), TORCH_EXPORTERS),
    "MobileNetV2": ("keras.applications", _keras("MobileNetV2"), ("tf2onnx",)),
    "ResNet50": ("keras.applications", _keras("ResNet50"), ("tf2onnx",)),
    "EfficientNetB0": ("keras.applications", _keras("EfficientNetB0"), ("tf2onnx",)),
}


# --------------------------------------------------------------------------- worker (one architecture)


def _samples(spec, n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    if spec[0] == "tokens":
        return rng.integers(0, spec[2], size=(n, *spec[1]), dtype=np.int64)
    return rng.standard_normal((n, *spec[1])).astype(np.float32)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # torch.onnx wraps the real cause; prefer the "<class ...>: message" line when there is one
    for ln in lines:
        if ln.startswith("<class "):
            return f"{type(e).__name__}: {ln}"[:300]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:300]


def _export_torch(model, example, exporter, path):
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            try:
                program = torch.onnx.export(model, (example,), dynamo=True, input_names=["x"],
                                            output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("N")},))
                note = ""
            except Exception:
                program = torch.onnx.export(model, (example,), dynamo=True, input_names=["x"],
                                            output_names=["logits"])
                note = "static batch (dynamic batch failed)"
            program.save(str(path), external_data=False)
            return note
        kw = dict(dynamo=False, opset_version=17, input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
        if exporter == "legacy-kept":
            kw.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        torch.onnx.export(model, (example,), str(path), **kw)
        return ""


def _export_keras(model, spec, path):
    import tensorflow as tf
    import tf2onnx

    sig = (tf.TensorSpec((None, *spec[1]), tf.float32, name="x"),)
    with contextlib.redirect_stdout(io.StringIO()):
        tf2onnx.convert.from_keras(model, input_signature=sig, opset=13, output_path=str(path))
    return ""


def worker(name: str, out: pathlib.Path, n_score: int) -> None:
    """Build ``name``, export it with each of its exporters into ``out``, write ``out/worker.json``
    (and with ``n_score`` the samples ``x.npy`` and wb_torch's scores ``ref.npy``)."""
    import numpy as np

    source, builder, exporters = ARCHS[name]
    out.mkdir(parents=True, exist_ok=True)
    report = {"name": name, "source": source, "exports": {}}
    if source == "keras.applications":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        keras.utils.set_random_seed(0)
        model, spec = builder()
        report["framework_parameters"] = int(sum(np.prod(v.shape) for v in model.trainable_weights))
        for exporter in exporters:
            t = time.time()
            try:
                note = _export_keras(model, spec, out / f"{exporter}.onnx")
                report["exports"][exporter] = {"ok": True, "note": note, "seconds": time.time() - t}
            except Exception as e:  # noqa: BLE001 - the survey records every failure
                report["exports"][exporter] = {"ok": False, "error": _first_line(e)}
        report["spec"] = list(spec[:2])
        (out / "worker.json").write_text(json.dumps(report, indent=1))
        return
    import torch

    sys.path.insert(0, str(ROOT / "tools"))
    from wb_torch import parameter_count, wb_scores

    torch.manual_seed(0)
    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    model, spec = builder()
    model.eval()
    report["framework_parameters"] = parameter_count(model)
    example_np = _samples(spec, 2, seed=1)
    example = torch.from_numpy(example_np)
    for exporter in exporters:
        t = time.time()
        try:
            note = _export_torch(model, example, exporter, out / f"{exporter}.onnx")
            report["exports"][exporter] = {"ok": True, "note": note, "seconds": time.time() - t}
        except Exception as e:  # noqa: BLE001
            report["exports"][exporter] = {"ok": False, "error": _first_line(e)}
    if n_score:
        x = _samples(spec, n_score, seed=2)
        np.save(out / "x.npy", x)
        t = time.time()
        scores, _, _ = wb_scores(model, torch.from_numpy(x))
        np.save(out / "ref.npy", scores)
        report["reference_seconds"] = time.time() - t
    report["spec"] = [spec[0], list(spec[1])]
    (out / "worker.json").write_text(json.dumps(report, indent=1))


# --------------------------------------------------------------------------- wbound


def inspect(wbound: str, path: pathlib.Path) -> dict:
    p = subprocess.run([wbound, "inspect", "--model", str(path)], capture_output=True, text=True, timeout=600)
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error")]
    unsupported = re.findall(r"^\s+(\S+)\s+\d+\s+UNSUPPORTED", p.stdout, re.M)
    trainable = re.search(r"^trainable: (\d+) values", p.stdout, re.M)
    return {
        "imported": p.returncode == 0,
        "rc": p.returncode,
        "error": errors[0] if errors else (p.stderr.strip().splitlines() or [""])[0],
        "unsupported": unsupported,
        "trainable": int(trainable.group(1)) if trainable else None,
    }


def score(wbound: str, path: pathlib.Path, x: pathlib.Path, ref) -> dict:
    import numpy as np

    out = path.with_suffix(".scores.npy")
    t = time.time()
    p = subprocess.run([wbound, "score", "--model", str(path), "--inputs", str(x), "--out", str(out), "--quiet",
                        "--force"], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        return {"scored": False, "error": (p.stderr.strip().splitlines() or [""])[0]}
    got = np.load(out)
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)
    rho = None
    if len(ref) > 2 and np.ptp(ref) > 0 and np.ptp(got) > 0:
        import pandas as pd

        rho = float(np.corrcoef(pd.Series(got).rank(), pd.Series(ref).rank())[0, 1])
    return {"scored": True, "seconds": time.time() - t, "rel_max": float(rel.max()),
            "rel_median": float(np.median(rel)), "within_1e-3": float((rel <= 1e-3).mean()), "spearman": rho}


def missing_piece(ins: dict) -> str:
    if ins["imported"]:
        return ""
    if ins["unsupported"]:
        return "unsupported ops: " + ", ".join(ins["unsupported"])
    err = ins["error"]
    err = re.sub(r"^error: [^:]+\.onnx: ", "", err)
    return err[:160]


def run_survey(args) -> list[dict]:
    out = pathlib.Path(args.out) if args.out else pathlib.Path(tempfile.mkdtemp(prefix="wb-survey-"))
    rows = []
    names = args.only or list(ARCHS)
    for name in names:
        d = out / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        t = time.time()
        p = subprocess.run([sys.executable, __file__, "--worker", name, "--out", str(d), "--score", str(args.score)],
                           capture_output=True, text=True, timeout=args.timeout)
        rep_path = d / "worker.json"
        if p.returncode != 0 or not rep_path.exists():
            tail = [ln for ln in p.stderr.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
            rows.append({"name": name, "source": ARCHS[name][0], "exporter": "-", "result": "build failed",
                         "missing": tail[0][:160]})
            print(f"{name}: build failed: {tail[0][:200]}", file=sys.stderr, flush=True)
            continue
        rep = json.loads(rep_path.read_text())
        ref = None
        if args.score:
            import numpy as np

            ref = np.load(d / "ref.npy") if (d / "ref.npy").exists() else None
        for exporter, e in rep["exports"].items():
            row = {"name": name, "source": rep["source"], "exporter": exporter,
                   "framework_parameters": rep["framework_parameters"]}
            if not e["ok"]:
                row.update(result="export failed", missing=e["error"])
            else:
                f = d / f"{exporter}.onnx"
                row["mb"] = round(f.stat().st_size / 2**20, 1)
                row["note"] = e.get("note", "")
                ins = inspect(args.wbound, f)
                row.update(inspect=ins, result="imported" if ins["imported"] else "refused",
                           missing=missing_piece(ins))
                if ins["imported"] and ref is not None:
                    row["score"] = score(args.wbound, f, d / "x.npy", ref)
                if not args.keep:
                    f.unlink()
            rows.append(row)
        print(f"{name}: {time.time() - t:.0f} s: "
              + "; ".join(f"{r['exporter']} {r['result']}" for r in rows if r["name"] == name), file=sys.stderr,
              flush=True)
        if not args.keep and not args.out:
            shutil.rmtree(d, ignore_errors=True)
    (out / "survey.json").write_text(json.dumps(rows, indent=1))
    print(f"raw results: {out / 'survey.json'}", file=sys.stderr)
    return rows


def table(rows: list[dict], with_score: bool) -> str:
    head = "| architecture | source | exporter | torch params | wbound trainable | result | first missing piece |"
    sep = "|---|---|---|---|---|---|---|"
    if with_score:
        head += " score rel. err (max / median) | Spearman |"
        sep += "---|---|"
    lines = [head, sep]
    for r in rows:
        ins = r.get("inspect") or {}
        trainable = ins.get("trainable")
        fp = r.get("framework_parameters")
        tr = "" if trainable is None else (f"{trainable}" + ("" if trainable == fp else " ≠"))
        result = r["result"] + (f" ({r['note']})" if r.get("note") else "")
        missing = (r.get("missing") or "").replace("|", "\\|")
        line = f"| {r['name']} | {r['source']} | {r['exporter']} | {fp or ''} | {tr} | {result} | {missing} |"
        if with_score:
            s = r.get("score")
            if s and s.get("scored"):
                rho = "" if s["spearman"] is None else f"{s['spearman']:.4f}"
                line += f" {s['rel_max']:.1e} / {s['rel_median']:.1e} | {rho} |"
            elif s:
                line += f" {s['error'][:80]} | |"
            else:
                line += " | |"
        lines.append(line)
    n = len([r for r in rows if r["exporter"] != "-"])
    ok = len([r for r in rows if r["result"] == "imported"])
    arch_ok = len({r["name"] for r in rows if r["result"] == "imported"})
    lines.append("")
    lines.append(f"{ok} of {n} exported files import; {arch_ok} of {len({r['name'] for r in rows})} architectures "
                 "import with at least one exporter.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wbound", help="path to the wbound binary (target/release/wbound)")
    ap.add_argument("--score", type=int, default=0, metavar="N", help="also score N samples and compare with wb_torch")
    ap.add_argument("--only", nargs="*", help="these architectures only (names as in the table)")
    ap.add_argument("--out", help="folder for the exported files (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the exported files")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per architecture (build, export, reference)")
    ap.add_argument("--list", action="store_true", help="list the architectures and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        for name, (source, _, exporters) in ARCHS.items():
            print(f"{name}\t{source}\t{', '.join(exporters)}")
        return
    if args.worker:
        worker(args.worker, pathlib.Path(args.out), args.score)
        return
    if not args.wbound:
        ap.error("--wbound is required (cargo build --release -p wbound-cli; target/release/wbound)")
    unknown = [n for n in args.only or [] if n not in ARCHS]
    if unknown:
        ap.error(f"unknown architectures {unknown}; --list shows them")
    rows = run_survey(args)
    md = table(rows, bool(args.score))
    print(md)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(md + "\n")


if __name__ == "__main__":
    main()

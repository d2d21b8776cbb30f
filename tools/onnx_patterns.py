"""What an ONNX importer meets in a file: op counts and, per op, the distinct operand patterns.

Every value of the graph gets a kind, decided from where it comes from (the sample shape is fixed, so
everything computed from shapes and constants is a constant):

- ``c`` computed: depends on the model input through a data path (what the engine evaluates);
- ``p`` parameter: an initializer named in ``params`` (the framework's trainable weights);
- ``k`` constant: any other initializer, a ``Constant`` node, or a node all of whose inputs are
  ``k``/``s`` (it folds at import);
- ``s`` shape-derived: the output of ``Shape``/``Size`` of anything, and whatever is computed from it
  and constants only (also folds at import); ``CastLike`` takes only the dtype of its second operand.

Each node whose inputs include a ``c`` or ``p`` value is a *computed* node and is listed with its
attributes and its operands' kinds, dtypes and shapes (concrete shapes from an onnxruntime run on a
sample batch); nodes that fold are only counted. ``python tools/onnx_patterns.py FILE.onnx ...``
prints the summary as markdown (``--fixtures tests/fixtures/arch``: every fixture, with its
parameters from meta.json); :func:`analyze` returns it as data.
"""

from __future__ import annotations

import collections
import sys

import numpy as np
import onnx
from onnx import numpy_helper

_SHAPE_OPS = {"Shape", "Size"}
_TYPE_ONLY_SECOND = {"CastLike"}


def _dtype_name(arr: np.ndarray) -> str:
    short = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32"}
    return short.get(arr.dtype.name, arr.dtype.name)


def _attr_text(attr: onnx.AttributeProto) -> str:
    v = onnx.helper.get_attribute_value(attr)
    if isinstance(v, onnx.TensorProto):
        a = numpy_helper.to_array(v)
        body = np.array2string(a.reshape(-1), separator=",") if a.size <= 8 else f"{list(a.shape)}"
        return f"{attr.name}={_dtype_name(a)}{body}"
    if isinstance(v, bytes):
        return f"{attr.name}={v.decode(errors='replace')}"
    if isinstance(v, (list, tuple)):
        v = [x.decode(errors="replace") if isinstance(x, bytes) else x for x in v]
        if v and isinstance(v[0], float):
            return f"{attr.name}=[{', '.join(f'{x:.6g}' for x in v)}]"
        return f"{attr.name}={v}"
    if isinstance(v, float):
        return f"{attr.name}={v:.6g}"
    if isinstance(v, onnx.GraphProto):
        return f"{attr.name}=<graph {len(v.node)} nodes>"
    return f"{attr.name}={v}"


def _run_all(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every intermediate value of ``model`` on ``feed`` (onnxruntime, all node outputs exposed)."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for out in node.output:
            if out and out not in have:
                m.graph.output.extend([onnx.ValueInfoProto(name=out)])
                have.add(out)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feed)))


def analyze(path: str, params: set[str] | None = None, sample: np.ndarray | None = None) -> dict:
    """Op counts and operand patterns of the ONNX file at ``path``.

    ``params``: initializer names that are framework parameters (default: every float initializer
    whose name has no exporter prefix such as ``onnx::`` or ``val_``). ``sample``: a batch for the one
    input (default: a batch of 2 of zeros of the declared shape and dtype).
    """
    model = onnx.load(path)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    if params is None:
        params = {
            n
            for n, a in inits.items()
            if a.dtype.kind == "f" and not n.startswith(("onnx::", "val_", "_val", "const"))
        }
    inputs = [i for i in g.input if i.name not in inits]
    if sample is None:
        inp = inputs[0]
        t = inp.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else 2 for d in t.shape.dim]
        dt = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        sample = np.zeros(shape, dtype=dt)
    values = _run_all(model, {inputs[0].name: sample})
    values.update(inits)
    values[inputs[0].name] = sample

    kind: dict[str, str] = {inputs[0].name: "c"}
    for n in inits:
        kind[n] = "p" if n in params else "k"
    ops = collections.Counter()
    folds = collections.Counter()
    computed: dict[tuple, dict] = {}
    for node in g.node:
        ops[node.op_type] += 1
        ins = [i for i in node.input if i]
        if node.op_type in _TYPE_ONLY_SECOND:
            ins = ins[:1]  # the second operand gives only its dtype
        in_kinds = [kind.get(i, "k") for i in ins]
        if node.op_type in _SHAPE_OPS:
            out_kind = "s"
        elif any(k in "cp" for k in in_kinds):
            out_kind = "c"
        elif any(k == "s" for k in in_kinds):
            out_kind = "s"
        else:
            out_kind = "k"
        for o in node.output:
            if o:
                kind[o] = out_kind
        if out_kind != "c" or node.op_type in _SHAPE_OPS:
            folds[node.op_type] += 1
            continue
        attrs = tuple(
            _attr_text(a) for a in sorted(node.attribute, key=lambda a: a.name) if a.name != "value"
        )
        descr, key_in = [], []
        for i in node.input:
            if not i:
                descr.append("∅")
                key_in.append("∅")
                continue
            k = kind.get(i, "k")
            v = values.get(i)
            if v is None:
                descr.append(f"{k}:?")
                key_in.append(f"{k}:?")
                continue
            v = np.asarray(v)
            d = f"{k}:{_dtype_name(v)}{list(v.shape)}"
            if k in "ks" and v.size <= 8:
                d += "=" + np.array2string(v.reshape(-1), separator=",", precision=4)
            descr.append(d)
            key_in.append(f"{k}:{_dtype_name(v)}r{v.ndim}")
        outs = [np.asarray(values[o]) for o in node.output if o and o in values]
        out_descr = ", ".join(f"{_dtype_name(v)}{list(v.shape)}" for v in outs)
        key = (node.op_type, attrs, tuple(key_in))
        entry = computed.setdefault(
            key,
            {
                "op": node.op_type,
                "attrs": list(attrs),
                "example": f"{node.op_type}({', '.join(descr)}) -> {out_descr}",
                "first_node": node.name,
                "count": 0,
            },
        )
        entry["count"] += 1
    return {
        "path": path,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ops": dict(sorted(ops.items())),
        "folds": dict(sorted(folds.items())),
        "computed": sorted(computed.values(), key=lambda e: (e["op"], -e["count"])),
    }


def markdown(a: dict, title: str | None = None) -> str:
    """The analysis as a markdown section."""
    lines = [f"#### {title or a['path']}", ""]
    opset = ", ".join(f"{d} {v}" for d, v in a["opset"].items())
    lines.append(f"opset {opset}; ops: " + ", ".join(f"{k}×{v}" for k, v in a["ops"].items()))
    lines.append("")
    if a["folds"]:
        lines.append(
            "folds to constants (inputs k/s only): "
            + ", ".join(f"{k}×{v}" for k, v in a["folds"].items())
        )
        lines.append("")
    lines.append("| op | × | attributes | operands → output (first example) |")
    lines.append("|---|---|---|---|")
    for e in a["computed"]:
        attrs = " ".join(e["attrs"]).replace("|", "\\|")
        lines.append(f"| {e['op']} | {e['count']} | {attrs} | `{e['example']}` |")
    lines.append("")
    return "\n".join(lines)


def fixture_sections(root: str) -> str:
    """The analysis of every ``<case>/{legacy,dynamo}.onnx`` under ``root`` (tests/fixtures/arch),
    with each case's parameters taken from its meta.json and its samples from x.npy."""
    import json
    import pathlib

    parts = []
    for case in sorted(p for p in pathlib.Path(root).iterdir() if (p / "meta.json").exists()):
        meta = json.loads((case / "meta.json").read_text())
        x = np.load(case / "x.npy")[:2]
        parts.append(f"### {case.name}: {meta['description']}\n")
        parts.append(f"{meta['parameter_count']} torch parameters; sample {meta['sample_dtype']} "
                     f"{meta['sample_shape']}.\n")
        for kind, e in meta["exports"].items():
            params = {n for n, m in e["initializers"].items() if m.get("param") or m.get("params")}
            a = analyze(str(case / e["file"]), params=params, sample=x)
            settings = {k: v for k, v in e["settings"].items() if k not in ("input_names", "output_names")}
            parts.append(markdown(a, title=f"{case.name}/{e['file']}"))
            parts.append(f"export: `{settings}`\n")
            if e["parameters_not_held_by_any_initializer"]:
                parts.append("exporter folded: " + ", ".join(
                    f"`{n}`" for n in e["parameters_not_held_by_any_initializer"]) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fixtures"]:
        print(fixture_sections(sys.argv[2]))
    else:
        for p in sys.argv[1:]:
            print(markdown(analyze(p)))

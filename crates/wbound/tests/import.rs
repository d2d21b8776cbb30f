//! ONNX import end to end: a PyTorch-style residual CNN loads, gets the right parameter roles and
//! scores; tf2onnx's NHWC layout gives the same logits as NCHW; PyTorch's shape arithmetic
//! imports; and every kind of bad input is an error that names what is wrong, on one line.

mod common;

use common::{attr_float, attr_int, attr_ints, OnnxBuilder, Rng};
use wbound::graph::Role;
use wbound::{ArrayDataset, Model, Status, WeightsBoundaryCalculator};

/// Adds a random float initializer scaled for its fan-in.
fn rand_init(m: &mut OnnxBuilder, rng: &mut Rng, name: &str, dims: &[i64], fan_in: usize) -> String {
    let n = dims.iter().product::<i64>() as usize;
    m.init_f32(name, dims, &rng.vec(n, (3.0 / fan_in as f32).sqrt()))
}

/// Adds a named node with one output of the same name.
fn node(
    m: &mut OnnxBuilder,
    op: &str,
    name: &str,
    inputs: &[&str],
    attrs: Vec<wbound::onnx::proto::AttributeProto>,
) -> String {
    m.node(op, name, inputs, &[name], attrs);
    name.to_string()
}

/// `torch.onnx.export` of a small ResNet: input `[N, 3, 8, 8]`, Conv (bias) → BatchNormalization
/// → Relu → MaxPool → residual block (Conv → Relu → Conv, Add with its input) →
/// GlobalAveragePool → Flatten → Gemm (transB = 1) → Softmax, 10 classes.
fn resnet(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("input", &[3, 8, 8]);
    let pads = || vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("kernel_shape", &[3, 3])];
    let w = rand_init(&mut m, &mut rng, "conv1.weight", &[8, 3, 3, 3], 27);
    let b = rand_init(&mut m, &mut rng, "conv1.bias", &[8], 27);
    let c1 = node(&mut m, "Conv", "/conv1/Conv", &["input", &w, &b], pads());
    let scale: Vec<f32> = (0..8).map(|_| rng.uniform(0.5, 1.5)).collect();
    let var: Vec<f32> = (0..8).map(|_| rng.uniform(0.5, 2.0)).collect();
    let s = m.init_f32("bn1.weight", &[8], &scale);
    let bb = rand_init(&mut m, &mut rng, "bn1.bias", &[8], 1);
    let mean = rand_init(&mut m, &mut rng, "bn1.running_mean", &[8], 3);
    let var = m.init_f32("bn1.running_var", &[8], &var);
    let bn_attrs = vec![attr_float("epsilon", 1e-5), attr_float("momentum", 0.9)];
    let bn = node(&mut m, "BatchNormalization", "/bn1/BatchNormalization", &[&c1, &s, &bb, &mean, &var], bn_attrs);
    let r = node(&mut m, "Relu", "/relu/Relu", &[&bn], vec![]);
    let pool_attrs = vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])];
    let p = node(&mut m, "MaxPool", "/maxpool/MaxPool", &[&r], pool_attrs); // [1, 8, 4, 4]
    let w = rand_init(&mut m, &mut rng, "layer1.conv1.weight", &[8, 8, 3, 3], 72);
    let b = rand_init(&mut m, &mut rng, "layer1.conv1.bias", &[8], 72);
    let c2 = node(&mut m, "Conv", "/layer1/conv1/Conv", &[&p, &w, &b], pads());
    let r2 = node(&mut m, "Relu", "/layer1/relu/Relu", &[&c2], vec![]);
    let w = rand_init(&mut m, &mut rng, "layer1.conv2.weight", &[8, 8, 3, 3], 72);
    let b = rand_init(&mut m, &mut rng, "layer1.conv2.bias", &[8], 72);
    let c3 = node(&mut m, "Conv", "/layer1/conv2/Conv", &[&r2, &w, &b], pads());
    let add = node(&mut m, "Add", "/layer1/Add", &[&c3, &p], vec![]);
    let gap = node(&mut m, "GlobalAveragePool", "/avgpool/GlobalAveragePool", &[&add], vec![]);
    let flat = node(&mut m, "Flatten", "/Flatten", &[&gap], vec![attr_int("axis", 1)]);
    let w = rand_init(&mut m, &mut rng, "fc.weight", &[10, 8], 8);
    let b = rand_init(&mut m, &mut rng, "fc.bias", &[10], 8);
    let gemm_attrs = vec![attr_float("alpha", 1.0), attr_float("beta", 1.0), attr_int("transB", 1)];
    let fc = node(&mut m, "Gemm", "/fc/Gemm", &[&flat, &w, &b], gemm_attrs);
    let out = node(&mut m, "Softmax", "output", &[&fc], vec![attr_int("axis", 1)]);
    m.output(&out);
    m.to_bytes()
}

fn argmax(y: &[f32]) -> usize {
    (0..y.len()).fold(0, |b, k| if y[k] > y[b] { k } else { b })
}

#[test]
fn pytorch_style_resnet_imports_with_the_right_roles_and_scores() {
    let model = Model::from_bytes(&resnet(11)).unwrap();
    assert_eq!(model.input_shape(), &[3, 8, 8]);
    assert_eq!(model.num_classes(), 10);
    let g = model.graph();
    let layer_of = |node: &str| g.nodes.iter().position(|n| n.name == node).unwrap();
    let expected = [
        ("conv1.weight", Some("/conv1/Conv")),
        ("conv1.bias", Some("/conv1/Conv")),
        ("bn1.weight", Some("/bn1/BatchNormalization")),
        ("bn1.bias", Some("/bn1/BatchNormalization")),
        ("bn1.running_mean", None),
        ("bn1.running_var", None),
        ("layer1.conv1.weight", Some("/layer1/conv1/Conv")),
        ("layer1.conv1.bias", Some("/layer1/conv1/Conv")),
        ("layer1.conv2.weight", Some("/layer1/conv2/Conv")),
        ("layer1.conv2.bias", Some("/layer1/conv2/Conv")),
        ("fc.weight", Some("/fc/Gemm")),
        ("fc.bias", Some("/fc/Gemm")),
    ];
    assert_eq!(model.tensors().len(), expected.len(), "{:?}", model.tensors());
    for (name, layer) in expected {
        let t = model.tensors().iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"));
        let want = layer.map_or(Role::Statistic, |l| Role::Trainable { layer: layer_of(l) });
        assert_eq!(t.role, want, "{name}");
    }
    let trainable = 8 * 27 + 8 + 8 + 8 + 2 * (8 * 72 + 8) + 80 + 10;
    assert_eq!(model.num_trainable(), trainable);

    let n = 6;
    let data = ArrayDataset::new(vec![3, 8, 8], Rng::new(5).vec(n * 192, 1.0)).unwrap();
    let scores = WeightsBoundaryCalculator::new(&model).threads(2).score_all(&data).unwrap();
    assert_eq!(scores.len(), n);
    for (i, s) in scores.iter().enumerate() {
        let y = model.logits(data.sample(i)).unwrap();
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5, "sample {i}: softmax outputs {y:?}");
        assert_eq!(s.original_class, argmax(&y), "sample {i}");
        assert!(s.distance.is_finite() && s.distance > 0.0, "sample {i}: {s:?}");
        assert_eq!(s.score, -s.distance, "sample {i}");
        assert!(matches!(s.status, Status::Crossed | Status::OnBoundary | Status::StepLimit), "sample {i}: {s:?}");
        assert!(s.steps >= 1, "sample {i}: {s:?}");
    }
}

/// tf2onnx keeps Keras' NHWC input and inserts a Transpose before the first Conv, and another
/// one back to NHWC before the Dense layer (whose kernel rows are in NHWC order); PyTorch works in
/// NCHW throughout. Both exports of the same network must give the same logits.
#[test]
fn nhwc_and_nchw_exports_of_one_network_agree() {
    let mut rng = Rng::new(3);
    let conv_w = rng.vec(4 * 3 * 9, 0.3);
    let conv_b = rng.vec(4, 0.1);
    let (c, h, w, classes) = (4usize, 8usize, 8usize, 5usize);
    // Dense kernel over NHWC-flattened features: row (y·w + x)·c + ch.
    let dense_nhwc = rng.vec(h * w * c * classes, 0.1);
    let dense_nchw: Vec<f32> = (0..c * h * w * classes)
        .map(|i| {
            let (row, k) = (i / classes, i % classes);
            let (ch, y, x) = (row / (h * w), row / w % h, row % w);
            dense_nhwc[((y * w + x) * c + ch) * classes + k]
        })
        .collect();
    let bias = rng.vec(classes, 0.1);
    let conv_attrs = || vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[1, 1])];

    let mut tf = OnnxBuilder::new("input_1", &[8, 8, 3]);
    let t = tf.op("Transpose", &["input_1"], vec![attr_ints("perm", &[0, 3, 1, 2])]);
    let cw = tf.init_f32("conv2d/kernel", &[4, 3, 3, 3], &conv_w);
    let cb = tf.init_f32("conv2d/bias", &[4], &conv_b);
    let conv = tf.op("Conv", &[&t, &cw, &cb], conv_attrs());
    let r = tf.op("Relu", &[&conv], vec![]);
    let back = tf.op("Transpose", &[&r], vec![attr_ints("perm", &[0, 2, 3, 1])]);
    let shape = tf.init_i64("const_shape", &[2], &[-1, 256]);
    let flat = tf.op("Reshape", &[&back, &shape], vec![]);
    let dw = tf.init_f32("dense/kernel", &[256, 5], &dense_nhwc);
    let mm = tf.op("MatMul", &[&flat, &dw], vec![]);
    let db = tf.init_f32("dense/bias", &[5], &bias);
    let out = tf.op("Add", &[&mm, &db], vec![]);
    tf.output(&out);
    let tf = Model::from_bytes(&tf.to_bytes()).unwrap();
    assert!(
        matches!(tf.tensors().iter().find(|t| t.name == "dense/bias").unwrap().role, Role::Trainable { .. }),
        "the Add after MatMul is the dense layer's bias"
    );

    let mut pt = OnnxBuilder::new("input", &[3, 8, 8]);
    let cw = pt.init_f32("conv.weight", &[4, 3, 3, 3], &conv_w);
    let cb = pt.init_f32("conv.bias", &[4], &conv_b);
    let conv = pt.op("Conv", &["input", &cw, &cb], conv_attrs());
    let r = pt.op("Relu", &[&conv], vec![]);
    let flat = pt.op("Flatten", &[&r], vec![]);
    let dw = pt.init_f32("fc.weight", &[256, 5], &dense_nchw);
    let db = pt.init_f32("fc.bias", &[5], &bias);
    let out = pt.op("Gemm", &[&flat, &dw, &db], vec![]);
    pt.output(&out);
    let pt = Model::from_bytes(&pt.to_bytes()).unwrap();

    assert_eq!(tf.input_shape(), &[8, 8, 3]);
    assert_eq!(pt.input_shape(), &[3, 8, 8]);
    for sample in 0..4 {
        let nchw = rng.vec(3 * 64, 1.0);
        let nhwc: Vec<f32> = (0..3 * 64).map(|i| nchw[(i % 3) * 64 + i / 3]).collect();
        let (a, b) = (tf.logits(&nhwc).unwrap(), pt.logits(&nchw).unwrap());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.1, "degenerate logits {b:?}");
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * scale, "sample {sample}: NHWC {a:?} vs NCHW {b:?}");
        }
    }
}

/// PyTorch's `x.view(x.size(0), -1)`: Shape → Gather → Unsqueeze → Concat → Reshape, folded at
/// import to a constant shape; the result equals Flatten. Opset 11 (axes as attribute) and 13
/// (axes as input).
#[test]
fn pytorch_view_shape_arithmetic_imports() {
    let mut rng = Rng::new(9);
    let conv_w = rng.vec(3 * 2 * 4, 0.5);
    let fc_w = rng.vec(4 * 3 * 2 * 2, 0.5);
    let build = |opset: i64, view: bool| {
        let mut m = OnnxBuilder::new("x", &[2, 3, 3]).opset(opset);
        let cw = m.init_f32("conv.weight", &[3, 2, 2, 2], &conv_w);
        let c = m.op("Conv", &["x", &cw], vec![]); // [1, 3, 2, 2]
        let flat = if view {
            let sh = m.op("Shape", &[&c], vec![]);
            let idx = common::i64_tensor("", &[], &[0]);
            m.node("Constant", "/Constant", &[], &["idx"], vec![common::attr_tensor("value", idx)]);
            let n = m.op("Gather", &[&sh, "idx"], vec![attr_int("axis", 0)]);
            let nu = if opset >= 13 {
                let axes = m.init_i64("axes", &[1], &[0]);
                m.op("Unsqueeze", &[&n, &axes], vec![])
            } else {
                m.op("Unsqueeze", &[&n], vec![attr_ints("axes", &[0])])
            };
            let minus1 = m.init_i64("minus1", &[1], &[-1]);
            let target = m.op("Concat", &[&nu, &minus1], vec![attr_int("axis", 0)]);
            m.op("Reshape", &[&c, &target], vec![])
        } else {
            m.op("Flatten", &[&c], vec![])
        };
        let fw = m.init_f32("fc.weight", &[4, 12], &fc_w);
        let out = m.op("Gemm", &[&flat, &fw], vec![attr_int("transB", 1)]);
        m.output(&out);
        Model::from_bytes(&m.to_bytes()).unwrap_or_else(|e| panic!("opset {opset}, view {view}: {e}"))
    };
    let x = rng.vec(18, 1.0);
    for opset in [11, 13] {
        let (view, flat) = (build(opset, true), build(opset, false));
        assert_eq!(view.num_classes(), 4);
        assert_eq!(view.graph().nodes.len(), 2, "the shape arithmetic folds away: Conv and Gemm remain");
        assert_eq!(view.logits(&x).unwrap(), flat.logits(&x).unwrap(), "opset {opset}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: each error is one line and names the thing that is wrong.
// ---------------------------------------------------------------------------------------------

fn one_line(e: &wbound::Error) -> String {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
    msg
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wbound-import-{}-{name}", std::process::id()))
}

#[test]
fn truncated_model_is_a_format_error() {
    let bytes = resnet(1);
    for cut in [bytes.len() / 2, bytes.len() - 1, 20] {
        let e = Model::from_bytes(&bytes[..cut]).unwrap_err();
        let msg = one_line(&e);
        assert!(matches!(e, wbound::Error::OnnxFormat(_)), "cut at {cut}: {e:?}");
        assert!(msg.contains("not a valid ONNX model") && msg.contains("protobuf"), "cut at {cut}: {msg}");
    }
    // From a file, the message also names the file.
    let path = tmp("truncated.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = one_line(&Model::load(&path).unwrap_err());
    std::fs::remove_file(&path).ok();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("not a valid ONNX model"), "{msg}");
}

#[test]
fn non_onnx_bytes_are_a_format_error() {
    let png = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    for bytes in [&b"hello world"[..], &png[..], &b""[..]] {
        let e = Model::from_bytes(bytes).unwrap_err();
        let msg = one_line(&e);
        assert!(msg.starts_with("not a valid ONNX model: "), "{bytes:?}: {msg}");
    }
}

#[test]
fn two_unsupported_ops_get_one_error_naming_both() {
    let mut m = OnnxBuilder::new("x", &[4]);
    let w = m.init_f32("W", &[4, 3], &[0.1; 12]);
    m.node("NonZero", "/a/nz", &["x"], &["nz"], vec![]);
    m.node("RoiAlign", "/b/roi", &["x"], &["roi"], vec![]);
    m.node("NonZero", "/c/nz", &["x"], &["nz2"], vec![]);
    let y = m.op("MatMul", &["x", &w], vec![]);
    m.output(&y);
    let e = Model::from_bytes(&m.to_bytes()).unwrap_err();
    let wbound::Error::UnsupportedOps(ops) = &e else { panic!("{e:?}") };
    let got: Vec<_> = ops.iter().map(|u| (u.op.as_str(), u.count, u.first_node.as_str())).collect();
    assert_eq!(got, [("NonZero", 2, "/a/nz"), ("RoiAlign", 1, "/b/roi")]);
    let msg = e.to_string();
    assert!(msg.contains("NonZero (2 nodes, first '/a/nz', opset 13)"), "{msg}");
    assert!(msg.contains("RoiAlign (1 node, first '/b/roi', opset 13)"), "{msg}");
}

#[test]
fn missing_model_file_names_the_path() {
    let path = tmp("does-not-exist.onnx");
    let e = Model::load(&path).unwrap_err();
    let msg = one_line(&e);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(matches!(e, wbound::Error::Io { .. }), "{e:?}");
}

fn small_model() -> Model {
    let mut rng = Rng::new(2);
    let mut m = OnnxBuilder::new("x", &[3, 4, 4]);
    let w = rand_init(&mut m, &mut rng, "conv.weight", &[2, 3, 3, 3], 27);
    let c = m.op("Conv", &["x", &w], vec![]);
    let f = m.op("Flatten", &[&c], vec![]);
    let fw = rand_init(&mut m, &mut rng, "fc.weight", &[3, 8], 8);
    let out = m.op("Gemm", &[&f, &fw], vec![attr_int("transB", 1)]);
    m.output(&out);
    Model::from_bytes(&m.to_bytes()).unwrap()
}

#[test]
fn dataset_with_the_wrong_sample_shape_states_both_shapes() {
    let model = small_model();
    let data = ArrayDataset::new(vec![4, 4, 3], vec![0.5; 2 * 48]).unwrap();
    let e = WeightsBoundaryCalculator::new(&model).threads(1).score_all(&data).unwrap_err();
    let msg = one_line(&e);
    assert!(msg.contains("[4, 4, 3]") && msg.contains("[3, 4, 4]"), "{msg}");
}

#[test]
fn non_finite_input_names_the_sample() {
    let model = small_model();
    for bad in [f32::NAN, f32::INFINITY] {
        let mut values = Rng::new(4).vec(5 * 48, 1.0);
        values[3 * 48 + 17] = bad;
        let data = ArrayDataset::new(vec![3, 4, 4], values).unwrap();
        let e = WeightsBoundaryCalculator::new(&model).threads(2).score_all(&data).unwrap_err();
        let msg = one_line(&e);
        assert!(msg.contains("sample 3 ") && msg.contains("position 17"), "{msg}");
        // Later batches too: the index is the data set's, not the batch's.
        let e = WeightsBoundaryCalculator::new(&model).threads(2).batch_size(2).score_all(&data).unwrap_err();
        assert!(one_line(&e).contains("sample 3 "), "{e}");
    }
}

#[test]
fn empty_dataset_is_an_error() {
    let model = small_model();
    let data = ArrayDataset::new(vec![3, 4, 4], Vec::new()).unwrap();
    let e = WeightsBoundaryCalculator::new(&model).threads(2).score_all(&data).unwrap_err();
    let msg = one_line(&e);
    assert!(msg.contains("zero samples"), "{msg}");
}

/// A graph whose shapes claim more values than any sample could hold is refused before anything
/// is allocated for them.
#[test]
fn huge_claimed_shapes_are_errors_not_allocations() {
    use wbound::onnx::proto::{
        Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TensorTypeProto, TypeProto,
        ValueInfoProto,
    };
    let value = |name: &str, dims: &[i64]| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims.iter().map(|&d| Dimension { dim_value: Some(d), dim_param: None }).collect(),
                }),
            }),
        }),
    };
    let model = |input: &[i64], nodes: Vec<NodeProto>, extra: Vec<ValueInfoProto>| ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(GraphProto {
            node: nodes,
            input: [vec![value("x", input)], extra].concat(),
            output: vec![value("y", &[1, 2])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = |m: ModelProto| prost::Message::encode_to_vec(&m);
    let err = wbound::Model::from_bytes(&bytes(model(&[1, 1 << 31, 1 << 31], vec![], vec![]))).unwrap_err().to_string();
    assert!(err.contains("more than"), "{err}");
    // Broadcasting an input and a constant, each of 2^20 values, into 2^40.
    let add = NodeProto {
        input: vec!["x".into(), "c".into()],
        output: vec!["y".into()],
        op_type: "Add".into(),
        ..Default::default()
    };
    let mut m = model(&[1, 1 << 20, 1], vec![add], vec![]);
    m.graph.as_mut().unwrap().initializer.push(wbound::onnx::proto::TensorProto {
        name: "c".into(),
        dims: vec![1, 1, 1 << 20],
        data_type: 1,
        raw_data: vec![0; 4 << 20],
        ..Default::default()
    });
    let err = wbound::Model::from_bytes(&bytes(m)).unwrap_err().to_string();
    assert!(err.contains("more than") && err.contains("Add"), "{err}");
}

/// PyTorch's ReLU6 (`Clip` with attribute bounds before opset 11, constant inputs after) and
/// `LogSoftmax` (MNIST examples end with `F.log_softmax`) import with their closed forms.
#[test]
fn clip_and_log_softmax_follow_their_definitions() {
    let x = [-3.0f32, 0.5, 7.0, 2.0];
    let want_clip = [0.0f32, 0.5, 6.0, 2.0];
    for opset in [10, 13] {
        let mut m = common::OnnxBuilder::new("x", &[4]).opset(opset);
        let y = if opset < 11 {
            m.op("Clip", &["x"], vec![common::attr_float("min", 0.0), common::attr_float("max", 6.0)])
        } else {
            let (lo, hi) = (m.init_f32("lo", &[], &[0.0]), m.init_f32("hi", &[], &[6.0]));
            m.op("Clip", &["x", &lo, &hi], vec![])
        };
        m.output(&y);
        let model = wbound::Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(model.logits(&x).unwrap(), want_clip, "opset {opset}");
    }
    let mut m = common::OnnxBuilder::new("x", &[4]);
    let y = m.op("LogSoftmax", &["x"], vec![]);
    m.output(&y);
    let got = wbound::Model::from_bytes(&m.to_bytes()).unwrap().logits(&x).unwrap();
    let lse = x.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
    for (g, &v) in got.iter().zip(&x) {
        assert!((f64::from(*g) - (f64::from(v) - lse)).abs() < 1e-5, "{g} vs {}", f64::from(v) - lse);
    }
}

/// `ReduceMean` over the trailing axes (PyTorch's `x.mean((2, 3))`) or a middle axis is the mean;
/// over the batch axis it is refused.
#[test]
fn reduce_mean_over_any_axis_but_the_batch_axis() {
    let mut m = common::OnnxBuilder::new("x", &[2, 3]).opset(13);
    let y = m.op("ReduceMean", &["x"], vec![attr_ints("axes", &[-1]), attr_int("keepdims", 0)]);
    m.output(&y);
    let model = wbound::Model::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(model.logits(&[1.0, 2.0, 6.0, -3.0, 0.0, 0.0]).unwrap(), vec![3.0, -1.0]);
    let mut m = common::OnnxBuilder::new("x", &[2, 3]).opset(13);
    let y = m.op("ReduceMean", &["x"], vec![attr_ints("axes", &[1])]);
    m.output(&y);
    let model = wbound::Model::from_bytes(&m.to_bytes()).unwrap();
    // Column means of [[1, 2, 6], [-3, 0, 0]].
    assert_eq!(model.logits(&[1.0, 2.0, 6.0, -3.0, 0.0, 0.0]).unwrap(), vec![-1.0, 1.0, 3.0]);
    let mut m = common::OnnxBuilder::new("x", &[2, 3]).opset(13);
    let y = m.op("ReduceMean", &["x"], vec![attr_ints("axes", &[0, 2])]);
    m.output(&y);
    let err = wbound::Model::from_bytes(&m.to_bytes()).unwrap_err().to_string();
    assert!(err.contains("ReduceMean") && err.contains("batch axis"), "{err}");
}

/// Pads in constant, reflect and edge mode and crops (negative pads) as `numpy.pad` does; an
/// unknown mode and padding the batch axis are errors naming the node.
#[test]
fn pads_and_crops_like_numpy() {
    let run = |pads: &'static [i64], mode: &'static str| {
        let mut m = OnnxBuilder::new("x", &[2, 3]);
        let p = m.init_i64("pads", &[6], pads);
        let y = m.op("Pad", &["x", &p], vec![common::attr_str("mode", mode)]);
        m.output(&y);
        Model::from_bytes(&m.to_bytes()).and_then(|model| model.logits(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    };
    // Rows [1, 2, 3] and [4, 5, 6], two values before and one after the last axis.
    let cases: [(&[i64], &str, Vec<f32>); 4] = [
        (&[0, 0, 2, 0, 0, 1], "constant", vec![0., 0., 1., 2., 3., 0., 0., 0., 4., 5., 6., 0.]),
        (&[0, 0, 2, 0, 0, 1], "reflect", vec![3., 2., 1., 2., 3., 2., 6., 5., 4., 5., 6., 5.]),
        (&[0, 0, 2, 0, 0, 1], "edge", vec![1., 1., 1., 2., 3., 3., 4., 4., 4., 5., 6., 6.]),
        (&[0, 0, -1, 0, 0, 0], "constant", vec![2., 3., 5., 6.]),
    ];
    for (pads, mode, want) in cases {
        assert_eq!(run(pads, mode).unwrap(), want, "{mode} {pads:?}");
    }
    for (pads, mode, want) in
        [(&[0, 0, 1, 0, 0, 1][..], "wrap", "mode 'wrap'"), (&[1, 0, 0, 0, 0, 0][..], "constant", "batch axis")]
    {
        let msg = one_line(&run(pads, mode).unwrap_err());
        assert!(msg.contains("Pad_0") && msg.contains(want), "{msg}");
    }
}

/// Concat joins any number of computed values and constants; along the batch axis it is refused.
#[test]
fn concat_of_many_inputs_and_its_batch_axis() {
    let mut m = OnnxBuilder::new("x", &[2]);
    let t = m.op("Neg", &["x"], vec![]);
    let c = m.init_f32("c", &[1, 1], &[9.0]);
    let y = m.op("Concat", &["x", &t, &c, "x"], vec![attr_int("axis", 1)]);
    m.output(&y);
    let model = Model::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(model.logits(&[1.0, 2.0]).unwrap(), vec![1.0, 2.0, -1.0, -2.0, 9.0, 1.0, 2.0]);
    let mut m = OnnxBuilder::new("x", &[2, 3]);
    let y = m.op("Concat", &["x", "x"], vec![attr_int("axis", 0)]);
    m.output(&y);
    let msg = one_line(&Model::from_bytes(&m.to_bytes()).unwrap_err());
    assert!(msg.contains("Concat_0") && msg.contains("batch axis"), "{msg}");
}

/// LayerNormalization over the batch axis, or with its Mean/InvStdDev outputs, is refused.
#[test]
fn unsupported_layer_norms_name_the_node() {
    for (axis, outputs) in [(0, &["y"][..]), (-1, &["y", "mean"][..])] {
        let mut m = OnnxBuilder::new("x", &[3]).opset(17);
        let s = m.init_f32("s", &[3], &[1.0; 3]);
        m.node("LayerNormalization", "ln", &["x", &s], outputs, vec![attr_int("axis", axis)]);
        m.output("y");
        let msg = one_line(&Model::from_bytes(&m.to_bytes()).unwrap_err());
        let want = if axis == 0 { "batch axis" } else { "Mean and InvStdDev" };
        assert!(msg.contains("'ln'") && msg.contains(want), "{msg}");
    }
}

/// The legacy exporter merges initializers of equal values: a fresh BatchNorm's scale (ones) and
/// running variance, its bias (zeros) and running mean, come as two shared tensors. The scale and
/// bias still move, the statistics still do not.
#[test]
fn batchnorm_statistics_merged_with_its_weights_stay_apart() {
    let mut m = OnnxBuilder::new("x", &[3, 2, 2]);
    let ones = m.init_f32("1.weight", &[3], &[1.0; 3]);
    let zeros = m.init_f32("1.bias", &[3], &[0.0; 3]);
    let y = m.op("BatchNormalization", &["x", &ones, &zeros, &zeros, &ones], vec![]);
    let f = m.op("Flatten", &[&y], vec![]);
    let w = m.init_f32("fc.weight", &[12, 2], &[0.1; 24]);
    let out = m.op("MatMul", &[&f, &w], vec![]);
    m.output(&out);
    let model = Model::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(model.num_trainable(), 3 + 3 + 24, "{:?}", model.tensors());
    let stats = model.tensors().iter().filter(|t| t.role == wbound::graph::Role::Statistic).count();
    assert_eq!(stats, 2);
}

/// The legacy exporter stores parameters of equal values once and names the others by `Identity`
/// copies: each copy is a parameter of its own (two fresh biases of zeros move independently),
/// while one initializer read by two layers stays one tensor.
#[test]
fn identity_copies_of_an_initializer_are_parameters_of_their_own() {
    let mut m = OnnxBuilder::new("x", &[2]);
    let (w1, w2) =
        (m.init_f32("fc1.weight", &[2, 2], &[1.0, 2.0, 3.0, 4.0]), m.init_f32("fc2.weight", &[2, 2], &[0.5; 4]));
    let b1 = m.init_f32("fc1.bias", &[2], &[0.0; 2]);
    m.node("Identity", "copy", &[&b1], &["fc2.bias"], vec![]);
    let h = m.op("Gemm", &["x", &w1, &b1], vec![]);
    let y = m.op("Gemm", &[&h, &w2, "fc2.bias"], vec![]);
    m.output(&y);
    let model = Model::from_bytes(&m.to_bytes()).unwrap();
    let names: Vec<&str> = model.tensors().iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"fc1.bias") && names.contains(&"fc2.bias"), "{names:?}");
    assert_eq!(model.num_trainable(), 4 + 4 + 2 + 2);
}

/// The reference MLP with every initializer moved to `data.bin` beside `model.onnx` in `dir`
/// (as torch.onnx's dynamo exporter stores them), each at its offset.
fn with_external_data(dir: &std::path::Path, location: &str) -> std::path::PathBuf {
    use prost::Message;
    use wbound::onnx::proto::StringStringEntryProto;
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mlp/model.onnx")).unwrap();
    let mut model = wbound::onnx::decode(&bytes).unwrap();
    let mut data = Vec::new();
    for t in &mut model.graph.as_mut().unwrap().initializer {
        let raw = if t.raw_data.is_empty() {
            t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            std::mem::take(&mut t.raw_data)
        };
        t.float_data.clear();
        let entry = |k: &str, v: String| StringStringEntryProto { key: k.into(), value: v };
        t.external_data = vec![
            entry("location", location.into()),
            entry("offset", data.len().to_string()),
            entry("length", raw.len().to_string()),
        ];
        t.data_location = 1;
        data.extend(raw);
    }
    std::fs::write(dir.join("data.bin"), data).unwrap();
    let path = dir.join("model.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

#[test]
fn external_data_beside_the_model_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_external_data(dir.path(), "data.bin");
    let inline = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mlp/model.onnx")).unwrap();
    let external = Model::load(&path).unwrap();
    let x = vec![0.5; inline.input_len()];
    assert_eq!(external.logits(&x).unwrap(), inline.logits(&x).unwrap());
    for (a, b) in inline.tensors().iter().zip(external.tensors()) {
        assert_eq!((&a.name, &a.data), (&b.name, &b.data));
    }
    // From bytes alone the data file cannot be found: the error says to load the file.
    let err = Model::from_bytes(&std::fs::read(&path).unwrap()).unwrap_err().to_string();
    assert!(err.contains("external file, which is read only when the model is loaded from its file"), "{err}");
    // A missing data file is named.
    std::fs::remove_file(dir.path().join("data.bin")).unwrap();
    let err = Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("data.bin") && err.contains("No such file"), "{err}");
}

#[test]
fn external_data_outside_the_model_folder_or_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_external_data(dir.path(), "../data.bin");
    let err = Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("outside the model's folder"), "{err}");
    let path = with_external_data(dir.path(), "data.bin");
    let data = std::fs::read(dir.path().join("data.bin")).unwrap();
    std::fs::write(dir.path().join("data.bin"), &data[..data.len() / 2]).unwrap();
    let err = Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("are outside 'data.bin'") && err.contains("does not belong to this model"), "{err}");
}

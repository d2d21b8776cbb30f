//! Numerical edge cases and bounded resources, each with its documented behaviour
//! (docs/RELIABILITY.md): dead units (`stuck`), logits tied at the start (`on_boundary`),
//! overflowing logits (`non_finite`, the run goes on), NaN/∞ inputs (refused before any work, or
//! `invalid_input` with `skip_invalid`), the memory guard, cancellation, and bit-identical results
//! across threads and batch sizes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::OnnxBuilder;
use proptest::prelude::*;
use wbound::{ArrayDataset, Error, Model, Order, ParamSelection, SampleScore, Status, WeightsBoundaryCalculator};

fn linear() -> Model {
    Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx")).unwrap()
}

/// `logits = relu(x W1 + b1) W2 + b2` on 2 inputs, 2 hidden units, 2 classes, W1 = W2 = I.
fn relu_net(b1: [f32; 2], b2: [f32; 2]) -> Model {
    let mut m = OnnxBuilder::new("x", &[2]);
    let x = m.input().to_string();
    let w1 = m.init_f32("W1", &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
    let b1 = m.init_f32("b1", &[2], &b1);
    let w2 = m.init_f32("W2", &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
    let b2 = m.init_f32("b2", &[2], &b2);
    let h = m.op("MatMul", &[&x, &w1], vec![]);
    let h = m.op("Add", &[&h, &b1], vec![]);
    let h = m.op("Relu", &[&h], vec![]);
    let y = m.op("MatMul", &[&h, &w2], vec![]);
    let y = m.op("Add", &[&y, &b2], vec![]);
    m.output(&y);
    Model::from_bytes(&m.to_bytes()).unwrap()
}

fn data(shape: usize, values: &[f32]) -> ArrayDataset {
    ArrayDataset::new(vec![shape], values.to_vec()).unwrap()
}

#[test]
fn dead_units_are_stuck_with_an_infinite_distance_and_rank_last() {
    // b1 = −100: the hidden units are dead for small inputs, so no weight but b2 moves the
    // logits; b2 is not among the moved weights.
    let model = relu_net([-100.0, -100.0], [1.0, 0.0]);
    let calc = WeightsBoundaryCalculator::new(&model).threads(1).params(ParamSelection::Glob("[Wb]1".into()));
    let moving = WeightsBoundaryCalculator::new(&model).threads(1).params(ParamSelection::Glob("W*".into()));
    // Sample 0 is dead; sample 1 (x = [150, 150]) keeps both units alive.
    let d = data(2, &[0.0, 0.0, 150.0, 150.0]);
    for calc in [&calc, &moving] {
        let s = calc.score_all(&d).unwrap();
        assert_eq!(s[0].status, Status::Stuck, "{:?}", s[0]);
        assert_eq!((s[0].distance, s[0].score, s[0].steps), (f64::INFINITY, f64::NEG_INFINITY, 0));
        assert_eq!((s[0].original_class, s[0].final_class), (0, 0));
        assert!(matches!(s[1].status, Status::Crossed | Status::OnBoundary), "{:?}", s[1]);
        assert!(s[1].distance.is_finite() && s[1].distance > 0.0);
        let top = calc.compute_top_k_from_training_dataset(&d, 2, Order::Descending).unwrap();
        assert_eq!(top.indices, [1, 0], "stuck ranks last in descending order");
    }
}

#[test]
fn logits_tied_at_the_start_are_on_the_boundary_after_zero_steps() {
    // The linear test model: logits [x0 + x1 + 4, x0]; x = [0, −4, 0] ties them at 0; a gap of
    // 1e-7 is within the default eps, one of 1e-2 is not.
    let model = linear();
    let d = data(3, &[0.0, -4.0, 0.0, 2.5, -4.0, 7.0, 0.0, -4.01, 0.0]);
    let s = WeightsBoundaryCalculator::new(&model).threads(1).score_all(&d).unwrap();
    for t in &s[..2] {
        assert_eq!(t.status, Status::OnBoundary, "{t:?}");
        assert_eq!((t.steps, t.distance), (0, 0.0));
        assert!(t.score == 0.0 && t.score.is_sign_positive(), "0, not −0: {t:?}");
    }
    assert!(matches!(s[2].status, Status::Crossed | Status::OnBoundary) && s[2].steps >= 1, "{:?}", s[2]);
    let loose = WeightsBoundaryCalculator::new(&model).threads(1).eps(0.1).score_all(&d).unwrap();
    assert_eq!(loose[2].status, Status::OnBoundary, "a gap of 0.01 is within eps 0.1");
}

#[test]
fn overflowing_logits_are_non_finite_and_the_run_goes_on() {
    let model = linear();
    // x0 + x1 overflows f32 for sample 1; samples 0 and 2 are ordinary.
    let d = data(3, &[1.0, 2.0, 3.0, 3e38, 3e38, 0.0, 0.0, 0.0, 0.0]);
    let s = WeightsBoundaryCalculator::new(&model).threads(2).batch_size(1).score_all(&d).unwrap();
    assert_eq!(s[1].status, Status::NonFinite, "{:?}", s[1]);
    assert!(s[1].score.is_nan() && s[1].distance.is_nan());
    assert!(matches!(s[0].status, Status::Crossed | Status::OnBoundary), "{:?}", s[0]);
    assert!((s[2].score + 2.0 * 2f64.sqrt()).abs() < 1e-6, "influenciae's x = 0 case: {:?}", s[2]);
    // NaN comes last in both orders.
    let calc = WeightsBoundaryCalculator::new(&model).threads(1);
    for order in [Order::Descending, Order::Ascending] {
        let top = calc.compute_top_k_from_training_dataset(&d, 3, order).unwrap();
        assert_eq!(top.indices[2], 1, "{order:?}");
    }
}

#[test]
fn non_finite_inputs_are_refused_before_any_work_or_marked_when_skipped() {
    let model = linear();
    let values = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.5, f32::NAN, 0.5, f32::INFINITY, 0.0, 0.0, 4.0, 5.0, 6.0];
    let d = data(3, &values);
    // The error comes from creating the iterator: no batch is scored, even with batches of 1.
    let calc = WeightsBoundaryCalculator::new(&model).threads(1).batch_size(1);
    let err = calc.compute_influence_values(&d).err().unwrap().to_string();
    assert!(err.contains("sample 2 ") && err.contains("position 1") && err.contains("NaN"), "{err}");

    let s = calc.skip_invalid(true).score_all(&d).unwrap();
    let clean = data(3, &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 4.0, 5.0, 6.0]);
    let want = WeightsBoundaryCalculator::new(&model).threads(1).score_all(&clean).unwrap();
    assert_eq!([s[0], s[1], s[4]], [want[0], want[1], want[2]], "the other samples score as without the bad ones");
    for bad in [s[2], s[3]] {
        assert_eq!(bad.status, Status::InvalidInput);
        assert!(bad.score.is_nan() && bad.distance.is_nan() && bad.steps == 0);
    }
}

#[test]
fn the_memory_plan_is_checked_before_anything_is_allocated() {
    let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mlp/model.onnx")).unwrap();
    let d = ArrayDataset::new(vec![64], vec![0.25; 64 * 10]).unwrap();
    let one = WeightsBoundaryCalculator::new(&model).threads(1).memory_plan(&d).unwrap();
    let two = WeightsBoundaryCalculator::new(&model).threads(2).memory_plan(&d).unwrap();
    // Model: every tensor plus the trained copy of the moved weights, 4 bytes each.
    let params = model.num_trainable();
    let tensors: usize = model.tensors().iter().map(|t| t.data.len()).sum();
    assert_eq!(one.model, 4 * (tensors + params));
    // A worker holds at least its weights and one gradient, and the cotangents of 9 classes.
    assert!(one.per_worker >= 8 * params, "{one:?}");
    assert_eq!((two.workers, two.per_worker), (2, one.per_worker));
    assert_eq!(two.total() - one.total(), one.per_worker);
    // More workers than samples are never started.
    assert_eq!(WeightsBoundaryCalculator::new(&model).threads(64).memory_plan(&d).unwrap().workers, 10);

    let exact = WeightsBoundaryCalculator::new(&model).threads(2).max_memory(Some(two.total()));
    assert_eq!(exact.score_all(&d).unwrap().len(), 10, "a plan exactly at the limit runs");
    let over = WeightsBoundaryCalculator::new(&model).threads(2).max_memory(Some(two.total() - 1));
    let err = over.score_all(&d).unwrap_err();
    assert!(matches!(err, Error::Resources(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("2 workers ×") && msg.contains("fewer threads") && msg.contains("limit"), "{msg}");
}

#[test]
fn a_cancelled_run_stops_between_batches_and_keeps_the_finished_ones() {
    let model = linear();
    let d = data(3, &[0.5; 3 * 40]);
    let flag = AtomicBool::new(false);
    let calc = WeightsBoundaryCalculator::new(&model).threads(2).batch_size(10).cancel_flag(&flag);
    let mut batches = calc.compute_influence_values(&d).unwrap();
    let first = batches.next().unwrap().unwrap();
    assert_eq!((first.start, first.scores.len()), (0, 10));
    flag.store(true, Ordering::SeqCst);
    assert!(matches!(batches.next(), Some(Err(Error::Cancelled))));
    assert!(batches.next().is_none(), "nothing after the cancellation");
}

#[test]
fn results_are_bit_identical_across_threads_and_batch_sizes() {
    let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/cnn/model.onnx")).unwrap();
    let x = wbound::data::npy::read_dataset(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/cnn/x.npy").as_ref(),
    )
    .unwrap()
    .head(40);
    let run = |threads, batch| WeightsBoundaryCalculator::new(&model).threads(threads).batch_size(batch).score_all(&x);
    let want = run(1, 256).unwrap();
    for (threads, batch) in [(2, 256), (3, 7), (2, 1), (1, 256)] {
        let got = run(threads, batch).unwrap();
        let bits = |s: &[SampleScore]| s.iter().map(|t| (t.score.to_bits(), t.steps, t.status)).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "threads {threads}, batch {batch}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the weights and inputs (dead units, huge values), a NaN score only ever comes
    /// with a status that says so, and an infinite distance only with `stuck`.
    #[test]
    fn nan_and_infinity_are_always_marked(
        b1 in prop::array::uniform2(-50f32..50.0),
        b2 in prop::array::uniform2(-5f32..5.0),
        xs in prop::collection::vec(prop_oneof![-100f32..100.0, Just(0.0), Just(3e38), Just(-3e38), Just(1e20)], 2..12),
        glob in prop_oneof![Just("*"), Just("W*"), Just("?1"), Just("W2")],
    ) {
        let model = relu_net(b1, b2);
        let n = xs.len() / 2 * 2;
        let d = data(2, &xs[..n]);
        let calc = WeightsBoundaryCalculator::new(&model).threads(2).step_nbr(20).params(ParamSelection::Glob(glob.into()));
        for s in calc.score_all(&d).unwrap() {
            prop_assert_eq!(s.score.is_nan(), s.status == Status::NonFinite, "{:?}", s);
            prop_assert_eq!(s.distance.is_infinite(), s.status == Status::Stuck, "{:?}", s);
            prop_assert!(s.score.is_nan() || s.score == 0.0 - s.distance, "{:?}", s);
        }
    }
}

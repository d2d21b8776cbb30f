//! Test support: a chain of nodes run the way the engine runs a graph, so that a fused node can
//! be held bit for bit to the nodes it replaces.

use super::{Aux, Op, Pass, Weights};
use proptest::prelude::*;

/// Runs `nodes` on `x` the way the engine does (forward in order; backward of `m` rows in
/// reverse order into zeroed cotangents, input by input; then each node's weight gradients
/// row by row): the output, the input's cotangents added onto `dx`, and every emitted
/// gradient in order.
pub(crate) fn run_like_the_engine(
    nodes: &[(Op, Vec<usize>)],
    w: &Weights,
    x: &[f32],
    m: usize,
    dy: &[f32],
    dx: &mut [f32],
) -> (Vec<f32>, Vec<Vec<f32>>) {
    let len = |op: &Op, ins: &[&[f32]]| match op {
        Op::Pool(p) => p.c,
        Op::Binary(b) => b.out_len,
        _ => ins[0].len(),
    };
    let (mut acts, mut aux) = (vec![x.to_vec()], Vec::new());
    for (op, inputs) in nodes {
        let ins: Vec<&[f32]> = inputs.iter().map(|&v| acts[v].as_slice()).collect();
        let (mut out, mut a) =
            (vec![0.0; len(op, &ins)], Aux { f: vec![0.0; op.aux_len().0], i: vec![0; op.aux_len().1] });
        op.forward(w, &ins, &mut out, &mut a.f, &mut a.i);
        acts.push(out);
        aux.push(a);
    }
    let mut cots: Vec<Vec<f32>> = acts.iter().map(|a| vec![0.0; m * a.len()]).collect();
    cots[0] = dx.to_vec();
    *cots.last_mut().unwrap() = dy.to_vec();
    let mut scratch = vec![0.0; 4 * x.len() + 64];
    for (k, (op, inputs)) in nodes.iter().enumerate().rev() {
        let ins: Vec<&[f32]> = inputs.iter().map(|&v| acts[v].as_slice()).collect();
        let pass = Pass { weights: w, inputs: &ins, output: &acts[k + 1], aux: &aux[k] };
        let d = cots[k + 1].clone();
        for (j, &v) in inputs.iter().enumerate() {
            op.backward(&pass, j, m, &d, &mut cots[v], &mut scratch);
        }
    }
    dx.copy_from_slice(&cots[0]);
    let mut grads = Vec::new();
    for r in 0..m {
        for (k, (op, inputs)) in nodes.iter().enumerate() {
            let ins: Vec<&[f32]> = inputs.iter().map(|&v| acts[v].as_slice()).collect();
            let pass = Pass { weights: w, inputs: &ins, output: &acts[k + 1], aux: &aux[k] };
            let n = acts[k + 1].len();
            op.param_grad(&pass, &cots[k + 1][r * n..(r + 1) * n], None, &mut scratch, &mut |_, _, g| {
                grads.push(g.to_vec())
            });
        }
    }
    (acts.pop().unwrap(), grads)
}

/// Holds the fused node `fused` (reading value 0) to the `nodes` it replaces: the same output,
/// input cotangents added onto `start` and emitted gradients, bit for bit.
pub(crate) fn fused_keeps_the_bits(
    nodes: &[(Op, Vec<usize>)],
    fused: Op,
    w: &Weights,
    x: &[f32],
    m: usize,
    dy: &[f32],
    start: &[f32],
) -> Result<(), TestCaseError> {
    let (mut dx_old, mut dx_new) = (start.to_vec(), start.to_vec());
    let (y_old, g_old) = run_like_the_engine(nodes, w, x, m, dy, &mut dx_old);
    let (y_new, g_new) = run_like_the_engine(&[(fused, vec![0])], w, x, m, dy, &mut dx_new);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    prop_assert_eq!(bits(&y_new), bits(&y_old));
    prop_assert_eq!(bits(&dx_new), bits(&dx_old));
    prop_assert_eq!(g_new.len(), g_old.len());
    for (a, b) in g_new.iter().zip(&g_old) {
        prop_assert_eq!(bits(a), bits(b));
    }
    Ok(())
}

//! The per-sample engine: forward pass, backward pass of many cotangent rows at once, and
//! per-row parameter-gradient norms, for one sample at a time over the worker's own weights.
//!
//! Why hand-written: DeepFool in weight space needs, per sample and step, the gradients of all
//! `C − 1` logit differences with respect to every weight — per-sample Jacobians. Autograd
//! frameworks have no vmap in Rust and were 5–25× slower in a spike on this workload (see
//! DESIGN.md §5). Here the `m` cotangent rows travel through the graph together as small matrix
//! products, dense-layer gradient norms come from the Gram form without materialising the
//! gradients, and only the chosen row's gradient is ever built.
//!
//! An [`Engine`] is shared by all workers; each worker owns a [`Workspace`] (activations,
//! cotangents, scratch and its copy of the selected weights), so memory is
//! `threads × (parameters + activations)`, independent of the number of samples.

use crate::graph::{Graph, TensorId};
pub use crate::ops::lanes::DualNorm;
use crate::ops::{Aux, Inputs, Norms, Pass, Weights};

/// The weight tensors DeepFool moves, laid out in one flat vector.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Selected tensors, in graph order.
    pub tensors: Vec<TensorId>,
    /// Offset of each graph tensor in the flat vector (`None`: not selected).
    pub offsets: Vec<Option<usize>>,
    /// The trained values of the selected tensors, concatenated.
    pub w0: Vec<f32>,
    /// Whether some trained value is NaN (then every distance is NaN, whichever weights moved).
    pub w0_has_nan: bool,
}

impl Selection {
    /// Lays out the given tensors of `graph`.
    pub fn new(graph: &Graph, mut tensors: Vec<TensorId>) -> Selection {
        tensors.sort_unstable();
        tensors.dedup();
        let mut offsets = vec![None; graph.tensors.len()];
        let mut w0 = Vec::new();
        for &t in &tensors {
            offsets[t] = Some(w0.len());
            w0.extend_from_slice(&graph.tensors[t].data);
        }
        let w0_has_nan = w0.iter().any(|v| v.is_nan());
        Selection { tensors, offsets, w0, w0_has_nan }
    }

    /// Number of selected scalars.
    pub fn len(&self) -> usize {
        self.w0.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.w0.is_empty()
    }
}

/// Multiply-adds of the matrix products of one DeepFool step, by phase (the cost model of
/// `docs/PERFORMANCE.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCost {
    /// The forward pass (also run once more after the last update).
    pub forward: usize,
    /// The backward pass of all cotangent rows to the earliest selected weight.
    pub backward: usize,
    /// The gradient norms of all rows (Gram form or materialised, whichever is cheaper).
    pub norms: usize,
    /// The chosen row's gradient, materialised for the update.
    pub gradient: usize,
}

impl StepCost {
    /// All phases together.
    pub fn total(&self) -> usize {
        self.forward + self.backward + self.norms + self.gradient
    }
}

/// A graph prepared for DeepFool with a given weight selection.
pub struct Engine<'g> {
    graph: &'g Graph,
    selection: Selection,
    /// Per node: whether its output needs cotangents.
    active: Vec<bool>,
    /// Per node and dynamic input: whether that input needs cotangents.
    input_active: Vec<Vec<bool>>,
    /// Nodes that read a selected tensor.
    param_nodes: Vec<usize>,
    /// Some selected tensor is read by several nodes: gradients must be summed before norms.
    shared: bool,
    /// Every selected tensor is read by exactly one active node, which emits its whole gradient.
    exact_cover: bool,
    rows: usize,
    /// Whether the graph input receives cotangents ([`Engine::with_input_gradients`]).
    input_gradients: bool,
}

/// Activations of a few samples run through the trained weights together (the shared first
/// step), from which each sample's DeepFool starts.
pub struct Group {
    acts: Vec<Vec<f32>>,
    aux: Vec<Aux>,
    cap: usize,
}

/// The most blocks [`Workspace::touched`] lists before it becomes one block of all weights
/// (a long search of a model with many blocks, or a caller of [`Engine::add_gradient`] that
/// never starts a search, would otherwise grow it without end).
const MAX_TOUCHED: usize = 1 << 16;

/// One worker's memory.
pub struct Workspace {
    acts: Vec<Vec<f32>>,
    cots: Vec<Vec<f32>>,
    aux: Vec<Aux>,
    scratch: Vec<f32>,
    /// The worker's copy of the selected weights (starts at, and is reset to, the trained ones).
    pub w: Vec<f32>,
    /// One row's full gradient over the selected weights.
    pub grad: Vec<f32>,
    /// Per cotangent row: the dual norm of its gradient.
    pub norms: Vec<f64>,
    /// Per node: the rows' weight gradients its norms kept ([`crate::ops::Op::kept_len`]), and
    /// whether they belong to the current backward pass.
    kept: Vec<Vec<f32>>,
    kept_valid: Vec<bool>,
    /// The blocks of `w` (offset, length) that [`Engine::add_gradient`] changed since the list
    /// was last cleared: the only weights a search that moves them that way needs to measure and
    /// put back.
    pub(crate) touched: Vec<(usize, usize)>,
    /// Per cotangent buffer: whether its first rows were zeroed in the current backward pass.
    cleared: Vec<bool>,
}

impl<'g> Engine<'g> {
    /// Prepares `graph` for cotangent batches of up to `rows` rows over the weights `selection`.
    pub fn new(graph: &'g Graph, selection: Selection, rows: usize) -> Engine<'g> {
        Engine::build(graph, selection, rows, false)
    }

    /// As [`Engine::new`], and the graph input also receives cotangents: after a backward pass,
    /// [`Engine::input_cotangent`] gives each row's gradient with respect to the sample (DeepFool
    /// on the input, influenciae's `SampleBoundaryCalculator`). The selection may be empty.
    pub fn with_input_gradients(graph: &'g Graph, selection: Selection, rows: usize) -> Engine<'g> {
        Engine::build(graph, selection, rows, true)
    }

    fn build(graph: &'g Graph, selection: Selection, rows: usize, input_gradients: bool) -> Engine<'g> {
        let n = graph.nodes.len();
        let mut requires = vec![false; graph.buffers.len()];
        requires[graph.buffer_of(graph.input)] = input_gradients;
        let mut param_nodes = Vec::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            let has_param = node.op.tensors().iter().any(|&t| selection.offsets[t].is_some());
            if has_param {
                param_nodes.push(i);
            }
            let any_input = node.inputs.iter().any(|&v| requires[graph.buffer_of(v)]);
            requires[graph.buffer_of(node.output)] = has_param || any_input;
        }
        // Only what reaches the output matters.
        let mut live = vec![false; graph.buffers.len()];
        live[graph.buffer_of(graph.output)] = true;
        let mut active = vec![false; n];
        let mut input_active = vec![Vec::new(); n];
        for (i, node) in graph.nodes.iter().enumerate().rev() {
            let out = graph.buffer_of(node.output);
            if !live[out] {
                input_active[i] = vec![false; node.inputs.len()];
                continue;
            }
            active[i] = requires[out];
            input_active[i] = node
                .inputs
                .iter()
                .enumerate()
                .map(|(j, &v)| active[i] && node.op.differentiable(j) && requires[graph.buffer_of(v)])
                .collect();
            for &v in &node.inputs {
                live[graph.buffer_of(v)] = true;
            }
        }
        param_nodes.retain(|&i| active[i]);
        let uses = graph.tensor_uses();
        let shared = selection.tensors.iter().any(|&t| uses[t] > 1);
        let mut active_uses = vec![0; graph.tensors.len()];
        for &i in &param_nodes {
            graph.nodes[i].op.tensors().iter().for_each(|&t| active_uses[t] += 1);
        }
        let sparse = param_nodes.iter().any(|&i| !graph.nodes[i].op.dense_gradients());
        let exact_cover = !sparse && selection.tensors.iter().all(|&t| active_uses[t] == 1);
        Engine {
            graph,
            selection,
            active,
            input_active,
            param_nodes,
            shared,
            exact_cover,
            rows: rows.max(1),
            input_gradients,
        }
    }

    pub fn graph(&self) -> &Graph {
        self.graph
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Multiply-adds of one DeepFool step with `m` cotangent rows and dual norm `q`.
    pub fn step_cost(&self, m: usize, q: DualNorm) -> StepCost {
        let g = self.graph;
        let mut c = StepCost::default();
        for (i, node) in g.nodes.iter().enumerate() {
            let f = node.op.forward_macs();
            c.forward += f;
            if self.input_active[i].iter().any(|&a| a) {
                c.backward += m * f;
            }
            if self.param_nodes.contains(&i) {
                c.norms += node.op.norm_macs(m, q);
                c.gradient += node.op.gradient_macs(m, q);
            }
        }
        c
    }

    /// The sizes (in values) of one worker's memory: cotangent length per buffer (before the
    /// factor `rows`) and the scratch length.
    fn workspace_layout(&self) -> (Vec<usize>, usize) {
        let g = self.graph;
        let mut cot_len = vec![0; g.buffers.len()];
        for (i, node) in g.nodes.iter().enumerate() {
            if self.active[i] {
                cot_len[g.buffer_of(node.output)] = g.buffers[g.buffer_of(node.output)];
                for (j, &v) in node.inputs.iter().enumerate() {
                    if self.input_active[i][j] {
                        cot_len[g.buffer_of(v)] = g.buffers[g.buffer_of(v)];
                    }
                }
            }
        }
        let scratch =
            g.nodes.iter().map(|n| n.op.scratch_len(self.rows, g.buffers[g.buffer_of(n.output)])).max().unwrap_or(0);
        (cot_len, scratch.max(self.selection.len().min(1)))
    }

    /// Bytes of one worker's memory ([`Engine::workspace`]), computed without allocating it.
    pub fn workspace_bytes(&self) -> usize {
        let g = self.graph;
        let (cot_len, scratch) = self.workspace_layout();
        let values = g.buffers.iter().sum::<usize>()
            + cot_len.iter().sum::<usize>().saturating_mul(self.rows)
            + g.nodes.iter().map(|n| aux_values(&n.op) + n.op.kept_len(self.rows)).sum::<usize>()
            + scratch
            + 2 * self.selection.len();
        values.saturating_mul(4).saturating_add(8 * self.rows)
    }

    /// Allocates one worker's memory.
    pub fn workspace(&self) -> Workspace {
        let g = self.graph;
        let (cot_len, scratch) = self.workspace_layout();
        let aux = g
            .nodes
            .iter()
            .map(|n| {
                let (f, i) = n.op.aux_len();
                Aux { f: vec![0.0; f], i: vec![0; i] }
            })
            .collect();
        Workspace {
            acts: g.buffers.iter().map(|&l| vec![0.0; l]).collect(),
            cots: cot_len.iter().map(|&l| vec![0.0; l * self.rows]).collect(),
            aux,
            scratch: vec![0.0; scratch],
            w: self.selection.w0.clone(),
            grad: vec![0.0; self.selection.len()],
            norms: vec![0.0; self.rows],
            kept: g.nodes.iter().map(|n| vec![0.0; n.op.kept_len(self.rows)]).collect(),
            kept_valid: vec![false; g.nodes.len()],
            cleared: vec![false; cot_len.len()],
            touched: Vec::new(),
        }
    }

    /// Runs the model on one sample (`x` has the input's element count) with the worker's
    /// weights and returns the logits.
    pub fn forward<'w>(&self, ws: &'w mut Workspace, x: &[f32]) -> &'w [f32] {
        let g = self.graph;
        ws.acts[g.buffer_of(g.input)].copy_from_slice(x);
        let weights = Weights { tensors: &g.tensors, offsets: &self.selection.offsets, flat: &ws.w };
        for (i, node) in g.nodes.iter().enumerate() {
            let ob = g.buffer_of(node.output);
            let mut out = std::mem::take(&mut ws.acts[ob]);
            {
                let ins = inputs_of(g, node, &ws.acts);
                let aux = &mut ws.aux[i];
                node.op.forward(&weights, &ins, &mut out, &mut aux.f, &mut aux.i);
            }
            ws.acts[ob] = out;
        }
        &ws.acts[g.buffer_of(g.output)]
    }

    /// Bytes of [`Engine::group`]`(cap)`, computed without allocating it.
    pub fn group_bytes(&self, cap: usize) -> usize {
        let g = self.graph;
        let values = g.buffers.iter().sum::<usize>() + g.nodes.iter().map(|n| aux_values(&n.op)).sum::<usize>();
        values.saturating_mul(4).saturating_mul(cap.max(1))
    }

    /// Memory for running up to `cap` samples through the trained weights together.
    pub fn group(&self, cap: usize) -> Group {
        let g = self.graph;
        let cap = cap.max(1);
        let aux = g
            .nodes
            .iter()
            .map(|n| {
                let (f, i) = n.op.aux_len();
                Aux { f: vec![0.0; f * cap], i: vec![0; i * cap] }
            })
            .collect();
        Group { acts: g.buffers.iter().map(|&l| vec![0.0; l * cap]).collect(), aux, cap }
    }

    /// The shared first step: runs the `xs.len() / input length` samples of `xs` (at most the
    /// group's capacity) through the trained weights together — dense layers as one product over
    /// the samples — with every sample's activations bit-identical to its own
    /// [`forward`](Self::forward).
    pub fn forward_group(&self, group: &mut Group, xs: &[f32]) {
        let g = self.graph;
        let len = |b: usize| g.buffers[b];
        let n = xs.len() / len(g.buffer_of(g.input));
        assert!(n <= group.cap, "more samples than the group holds");
        group.acts[g.buffer_of(g.input)][..xs.len()].copy_from_slice(xs);
        let weights = Weights { tensors: &g.tensors, offsets: &self.selection.offsets, flat: &self.selection.w0 };
        for (i, node) in g.nodes.iter().enumerate() {
            let ob = g.buffer_of(node.output);
            let mut out = std::mem::take(&mut group.acts[ob]);
            {
                let ins = inputs_of(g, node, &group.acts);
                if !node.op.forward_samples(&weights, &ins, &mut out, n) {
                    let (fl, il) = node.op.aux_len();
                    let aux = &mut group.aux[i];
                    for s in 0..n {
                        let one: Inputs = ins
                            .iter()
                            .zip(&node.inputs)
                            .map(|(&full, &v)| {
                                let l = len(g.buffer_of(v));
                                &full[s * l..(s + 1) * l]
                            })
                            .collect();
                        let o = &mut out[s * len(ob)..(s + 1) * len(ob)];
                        node.op.forward(
                            &weights,
                            &one,
                            o,
                            &mut aux.f[s * fl..(s + 1) * fl],
                            &mut aux.i[s * il..(s + 1) * il],
                        );
                    }
                }
            }
            group.acts[ob] = out;
        }
    }

    /// Makes sample `s` of a [`forward_group`](Self::forward_group) the workspace's current
    /// forward pass (the workspace's weights must be the trained ones) and returns its logits.
    pub fn load<'w>(&self, ws: &'w mut Workspace, group: &Group, s: usize) -> &'w [f32] {
        let g = self.graph;
        for (b, act) in ws.acts.iter_mut().enumerate() {
            let l = g.buffers[b];
            act.copy_from_slice(&group.acts[b][s * l..(s + 1) * l]);
        }
        for (mine, theirs) in ws.aux.iter_mut().zip(&group.aux) {
            let (fl, il) = (mine.f.len(), mine.i.len());
            mine.f.copy_from_slice(&theirs.f[s * fl..(s + 1) * fl]);
            mine.i.copy_from_slice(&theirs.i[s * il..(s + 1) * il]);
        }
        &ws.acts[g.buffer_of(g.output)]
    }

    /// Propagates the cotangent rows `e_k − e_c0` (one per class `k` in `classes`) from the
    /// output back through the graph, after a [`forward`](Self::forward) of the same sample.
    pub fn backward(&self, ws: &mut Workspace, c0: usize, classes: &[usize]) {
        let g = self.graph;
        let m = self.clear_cotangents(ws, classes.len());
        let nc = g.num_classes();
        self.clear(&mut ws.cots, &mut ws.cleared, g.buffer_of(g.output), m);
        let seed = &mut ws.cots[g.buffer_of(g.output)];
        for (r, &k) in classes.iter().enumerate() {
            seed[r * nc + k] += 1.0;
            seed[r * nc + c0] -= 1.0;
        }
        self.propagate(ws, m);
    }

    /// Propagates arbitrary cotangent rows of the logits (`seeds`: `m × classes`, row-major)
    /// back through the graph, after a [`forward`](Self::forward) of the same sample: e.g. the
    /// row `softmax(y) − onehot(label)` gives the gradient of the cross-entropy loss. Then
    /// [`gradient`](Self::gradient) materialises each row's weight gradient.
    ///
    /// Panics if `seeds` is not a whole number of rows, or holds more rows than the engine was
    /// prepared for.
    pub fn backward_seeded(&self, ws: &mut Workspace, seeds: &[f32]) {
        let g = self.graph;
        let nc = g.num_classes();
        assert_eq!(seeds.len() % nc, 0, "seeds must be whole rows of {nc} logits");
        let m = self.clear_cotangents(ws, seeds.len() / nc);
        self.clear(&mut ws.cots, &mut ws.cleared, g.buffer_of(g.output), m);
        ws.cots[g.buffer_of(g.output)][..m * nc].copy_from_slice(seeds);
        self.propagate(ws, m);
    }

    /// Row `row` of the graph input's cotangents after a backward pass: the gradient of that
    /// row's seed with respect to the sample. Empty unless the engine was built
    /// [`with_input_gradients`](Self::with_input_gradients).
    pub fn input_cotangent<'w>(&self, ws: &'w Workspace, row: usize) -> &'w [f32] {
        if !self.input_gradients {
            return &[];
        }
        let b = self.graph.buffer_of(self.graph.input);
        let n = self.graph.buffers[b];
        &ws.cots[b][row * n..(row + 1) * n]
    }

    /// Starts a backward pass of `m` rows: every cotangent buffer is zeroed by [`clear`] when the
    /// pass first touches it (just before the first cotangents are added to it, while it is about
    /// to be in cache, rather than all of them up front); returns `m`. A buffer the pass never
    /// touches was never written and holds zeros.
    fn clear_cotangents(&self, ws: &mut Workspace, m: usize) -> usize {
        assert!(m <= self.rows, "more cotangent rows than the engine was prepared for");
        ws.kept_valid.fill(false);
        ws.cleared.fill(false);
        m
    }

    /// Zeroes the first `m` rows of cotangent buffer `b`, once per backward pass.
    fn clear(&self, cots: &mut [Vec<f32>], cleared: &mut [bool], b: usize, m: usize) {
        if !std::mem::replace(&mut cleared[b], true) {
            let c = &mut cots[b];
            let n = c.len() / self.rows;
            c[..m * n].fill(0.0);
        }
    }

    /// Runs the backward pass of the `m` seeded rows of the output's cotangents.
    fn propagate(&self, ws: &mut Workspace, m: usize) {
        let g = self.graph;
        let weights = Weights { tensors: &g.tensors, offsets: &self.selection.offsets, flat: &ws.w };
        for (i, node) in g.nodes.iter().enumerate().rev() {
            if !self.active[i] {
                continue;
            }
            let ob = g.buffer_of(node.output);
            // No reader added to it (a branch that does not reach the logits): zeros.
            self.clear(&mut ws.cots, &mut ws.cleared, ob, m);
            let dy = std::mem::take(&mut ws.cots[ob]);
            let ins = inputs_of(g, node, &ws.acts);
            let pass = Pass { weights: &weights, inputs: &ins, output: &ws.acts[ob], aux: &ws.aux[i] };
            let out_len = g.buffers[ob];
            for (j, &v) in node.inputs.iter().enumerate() {
                if self.input_active[i][j] {
                    let vb = g.buffer_of(v);
                    let in_len = g.buffers[vb];
                    self.clear(&mut ws.cots, &mut ws.cleared, vb, m);
                    node.op.backward(&pass, j, m, &dy[..m * out_len], &mut ws.cots[vb][..m * in_len], &mut ws.scratch);
                }
            }
            ws.cots[ob] = dy;
        }
    }

    /// Fills `ws.norms[..m]` with the dual norm of each row's gradient over the selected
    /// weights, after a [`backward`](Self::backward) of `m` rows.
    pub fn norms(&self, ws: &mut Workspace, m: usize, q: DualNorm) {
        let g = self.graph;
        ws.norms[..m].fill(0.0);
        if self.shared {
            for r in 0..m {
                self.gradient(ws, r);
                let mut acc = 0.0;
                q.add(&mut acc, &ws.grad);
                ws.norms[r] = acc;
            }
        } else {
            let weights = Weights { tensors: &g.tensors, offsets: &self.selection.offsets, flat: &ws.w };
            for &i in &self.param_nodes {
                let node = &g.nodes[i];
                let ob = g.buffer_of(node.output);
                let out_len = g.buffers[ob];
                let ins = inputs_of(g, node, &ws.acts);
                let pass = Pass { weights: &weights, inputs: &ins, output: &ws.acts[ob], aux: &ws.aux[i] };
                let dy = &ws.cots[ob];
                let (scratch, keep) = (&mut ws.scratch, &mut ws.kept[i]);
                match node.op.grad_norms(&pass, m, &dy[..m * out_len], q, scratch, keep, &mut ws.norms[..m]) {
                    Norms::FoldedKept => ws.kept_valid[i] = true,
                    Norms::Folded => {}
                    Norms::Skipped => {
                        for r in 0..m {
                            let acc = &mut ws.norms[r];
                            let dyr = &dy[r * out_len..(r + 1) * out_len];
                            node.op.param_grad(&pass, dyr, None, &mut ws.scratch, &mut |_, _, grad| q.add(acc, grad));
                        }
                    }
                }
            }
        }
        if q == DualNorm::L2 {
            ws.norms[..m].iter_mut().for_each(|v| *v = v.sqrt());
        }
    }

    /// Fills `ws.grad` with row `row`'s gradient over the selected weights.
    pub fn gradient(&self, ws: &mut Workspace, row: usize) {
        // Each selected tensor written by exactly one node: its block is copied, not accumulated.
        let copy = self.exact_cover;
        if !copy {
            ws.grad.fill(0.0);
        }
        let Workspace { acts, cots, aux, scratch, w, grad, kept, kept_valid, .. } = ws;
        let parts = Parts { acts, cots, aux, kept, kept_valid, flat: w };
        self.visit_gradient(&parts, scratch, row, |off, gt| {
            let dst = &mut grad[off..off + gt.len()];
            if copy {
                dst.copy_from_slice(gt);
            } else {
                dst.iter_mut().zip(gt).for_each(|(a, &b)| *a += b);
            }
        });
    }

    /// Whether [`Engine::add_gradient`] applies: no selected tensor's gradient depends on the
    /// weights' current values (it does for a learned divisor), so the pass may read the trained
    /// values while the worker's change.
    pub fn adds_gradients_in_place(&self) -> bool {
        !self.param_nodes.iter().any(|&i| self.graph.nodes[i].op.gradient_reads_weights())
    }

    /// `w += step · g` on the worker's weights, `g` being row `row`'s gradient, without writing
    /// `g` into `ws.grad` and reading it back (two passes over the weights saved per step): the
    /// l2 DeepFool update, one node's gradient block at a time. When every selected tensor is
    /// written by one node in whole, its bits equal those of [`Engine::gradient`] then the update;
    /// otherwise (a tensor read by several nodes, an embedding's sparse rows) the blocks of a
    /// tensor are added one after another, which touches only the gathered rows. The blocks are
    /// listed in the workspace (a DeepFool search clears the list when it starts and measures
    /// only them); past [`MAX_TOUCHED`] entries the list becomes one block of all weights.
    pub fn add_gradient(&self, ws: &mut Workspace, row: usize, step: f32) {
        let Workspace { acts, cots, aux, scratch, w, kept, kept_valid, touched, .. } = ws;
        // The gradients read which weights are selected, never their values, so the pass may see
        // the trained ones while the worker's change.
        let parts = Parts { acts, cots, aux, kept, kept_valid, flat: &self.selection.w0 };
        self.visit_gradient(&parts, scratch, row, |off, gt| {
            w[off..off + gt.len()].iter_mut().zip(gt).for_each(|(a, &b)| *a += step * b);
            touched.push((off, gt.len()));
        });
        if touched.len() > MAX_TOUCHED {
            touched.clear();
            touched.push((0, w.len()));
        }
    }

    /// Hands `f(offset, block)` every block of row `row`'s gradient, node by node.
    fn visit_gradient(&self, parts: &Parts, scratch: &mut [f32], row: usize, mut f: impl FnMut(usize, &[f32])) {
        let g = self.graph;
        let weights = Weights { tensors: &g.tensors, offsets: &self.selection.offsets, flat: parts.flat };
        for &i in &self.param_nodes {
            let node = &g.nodes[i];
            let ob = g.buffer_of(node.output);
            let out_len = g.buffers[ob];
            let ins = inputs_of(g, node, parts.acts);
            let pass = Pass { weights: &weights, inputs: &ins, output: &parts.acts[ob], aux: &parts.aux[i] };
            let dy = &parts.cots[ob][row * out_len..(row + 1) * out_len];
            let kept = parts.kept_valid[i].then(|| {
                let len = parts.kept[i].len() / self.rows;
                &parts.kept[i][row * len..(row + 1) * len]
            });
            let offsets = &self.selection.offsets;
            node.op.param_grad(&pass, dy, kept, scratch, &mut |t, at, gt| {
                if let Some(off) = offsets[t] {
                    f(off + at, gt);
                }
            });
        }
    }
}

/// What [`Engine::visit_gradient`] reads of a workspace.
struct Parts<'a> {
    acts: &'a [Vec<f32>],
    cots: &'a [Vec<f32>],
    aux: &'a [Aux],
    kept: &'a [Vec<f32>],
    kept_valid: &'a [bool],
    /// The weight values the pass sees.
    flat: &'a [f32],
}

/// Floats and indices of a node's [`Aux`].
fn aux_values(op: &crate::ops::Op) -> usize {
    let (f, i) = op.aux_len();
    f + i
}

/// The dynamic inputs of `node` as slices of the activation buffers `acts`.
fn inputs_of<'a>(g: &Graph, node: &crate::graph::Node, acts: &'a [Vec<f32>]) -> Inputs<'a> {
    node.inputs.iter().map(|&v| &acts[g.buffer_of(v)][..]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, ParamSelection};

    #[test]
    fn the_touched_list_stays_bounded_and_covers_every_moved_weight() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mlp/model.onnx");
        let model = Model::load(path).expect("fixture model");
        let g = model.graph();
        let selection = Selection::new(g, ParamSelection::All.resolve(g).unwrap());
        let engine = Engine::new(g, selection, 1);
        let mut ws = engine.workspace();
        let x = vec![0.5f32; g.buffers[g.buffer_of(g.input)]];
        engine.forward(&mut ws, &x);
        engine.backward(&mut ws, 0, &[1]);
        let per_call = {
            engine.add_gradient(&mut ws, 0, 0.0);
            ws.touched.len()
        };
        assert!(per_call > 0);
        for _ in 0..MAX_TOUCHED / per_call + 2 {
            engine.add_gradient(&mut ws, 0, 0.0);
        }
        assert!(ws.touched.len() <= MAX_TOUCHED, "{} blocks listed", ws.touched.len());
        assert!(ws.touched.contains(&(0, ws.w.len())), "the list became one block of all weights");
    }
}

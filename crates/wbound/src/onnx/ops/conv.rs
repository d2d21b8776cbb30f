//! `Conv` in 1-D, 2-D and 3-D, and the window geometry (kernel, strides, dilations, pads,
//! `auto_pad`, `ceil_mode`) it shares with the pools.

use super::super::attr::NodeCtx;
use super::super::builder::{element_count, Builder, MAX_ELEMENTS};
use super::Importer;
use crate::error::Result;
use crate::ops::{Conv, Op};
use crate::tensor::ValueId;

pub(super) const OPS: &[(&str, Importer)] = &[("Conv", conv)];

/// The window of a convolution or pool over `n` spatial axes, resolved to explicit pads and the
/// output size, and embedded in three axes (depth, height, width) with the missing leading ones of
/// size 1.
pub(super) struct Window {
    /// Spatial sizes of the input, `[d, h, w]`.
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// `[front, top, left, back, bottom, right]`.
    pub pads: [usize; 6],
    pub out: [usize; 3],
}

/// The input `[1, c, spatial...]` of a window op: channels and the spatial sizes (1 to 3 axes).
pub(super) fn channels_and_spatial(b: &Builder, ctx: &NodeCtx, x: ValueId) -> Result<(usize, Vec<usize>)> {
    match b.value_info(x).shape.as_slice() {
        [1, c, rest @ ..] if (1..=3).contains(&rest.len()) => Ok((*c, rest.to_vec())),
        s => Err(ctx.err(format!(
            "input has shape {s:?}; wbound supports {} on [batch, channels, spatial...] inputs with 1 to 3 spatial axes",
            ctx.op()
        ))),
    }
}

/// Resolves the window attributes of `ctx` for an input of spatial sizes `spatial` and a kernel
/// of sizes `kernel` (one per spatial axis).
pub(super) fn window(ctx: &NodeCtx, spatial: &[usize], kernel: &[usize], ceil_mode: bool) -> Result<Window> {
    let n = spatial.len();
    let stride = ctx.spatial("strides", n, 1)?;
    let dilation = ctx.spatial("dilations", n, 1)?;
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err(ctx.err("kernel_shape, strides and dilations must be positive"));
    }
    let auto_pad = ctx.string("auto_pad", "NOTSET")?;
    let ek: Vec<usize> = (0..n).map(|d| (kernel[d] - 1) * dilation[d] + 1).collect();
    let mut pads = vec![0usize; 2 * n];
    let mut out = vec![0usize; n];
    match auto_pad.as_str() {
        "NOTSET" | "VALID" => {
            if auto_pad == "NOTSET" {
                pads = ctx.spatial("pads", 2 * n, 0)?;
            }
            for d in 0..n {
                let span = spatial[d] + pads[d] + pads[d + n];
                if span < ek[d] {
                    return Err(ctx.err(format!(
                        "kernel of extent {} does not fit the padded input of size {span} on spatial axis {d}",
                        ek[d]
                    )));
                }
                let steps = span - ek[d];
                out[d] = if ceil_mode { steps.div_ceil(stride[d]) + 1 } else { steps / stride[d] + 1 };
                if ceil_mode && (out[d] - 1) * stride[d] >= spatial[d] + pads[d] {
                    out[d] -= 1;
                }
            }
        }
        "SAME_UPPER" | "SAME_LOWER" => {
            for d in 0..n {
                out[d] = spatial[d].div_ceil(stride[d]);
                let total = ((out[d] - 1) * stride[d] + ek[d]).saturating_sub(spatial[d]);
                let small = total / 2;
                let (begin, end) =
                    if auto_pad == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
                pads[d] = begin;
                pads[d + n] = end;
            }
        }
        other => return Err(ctx.err(format!("auto_pad '{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"))),
    }
    // Embed in three axes: the leading missing ones have size 1, no padding.
    let lift = |v: &[usize], fill: usize| -> [usize; 3] {
        let mut a = [fill; 3];
        a[3 - n..].copy_from_slice(v);
        a
    };
    let mut p6 = [0usize; 6];
    p6[3 - n..3].copy_from_slice(&pads[..n]);
    p6[6 - n..].copy_from_slice(&pads[n..]);
    Ok(Window {
        input: lift(spatial, 1),
        kernel: lift(kernel, 1),
        stride: lift(&stride, 1),
        dilation: lift(&dilation, 1),
        pads: p6,
        out: lift(&out, 1),
    })
}

fn conv(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let (cin, spatial) = channels_and_spatial(b, ctx, x)?;
    let ws = b.constant(ctx, 1)?.shape.clone();
    let group = usize::try_from(ctx.int("group", 1)?).unwrap_or(0);
    if ws.len() != spatial.len() + 2 {
        return Err(ctx.err(format!(
            "weight has shape {ws:?}; expected [out_channels, in_channels/group, {} kernel sizes]",
            spatial.len()
        )));
    }
    let (cout, cin_g, kernel) = (ws[0], ws[1], ws[2..].to_vec());
    if group == 0 || cin % group != 0 || cout % group != 0 || cin_g * group != cin {
        return Err(ctx.err(format!(
            "input has {cin} channels, weight {ws:?} and group = {group}: the channel counts do not match"
        )));
    }
    if let Some(k) = ctx.ints("kernel_shape")? {
        if k.iter().map(|&v| v as usize).ne(kernel.iter().copied()) {
            return Err(ctx.err(format!("kernel_shape {k:?} disagrees with the weight's shape {ws:?}")));
        }
    }
    let win = window(ctx, &spatial, &kernel, false)?;
    let weight = b.weight(ctx, 1)?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => {
            if b.constant(ctx, 2)?.len() != cout {
                return Err(ctx.err(format!("bias has {} values; expected {cout}", b.constant(ctx, 2)?.len())));
            }
            Some(b.weight(ctx, 2)?)
        }
    };
    let taps: usize = win.kernel.iter().product();
    let positions: usize = win.out.iter().product();
    if element_count(&[group, cin_g, taps, positions]).is_none() {
        return Err(ctx.err(format!(
            "its unfolded input ({cin_g}·{taps} taps × {positions} positions) exceeds {MAX_ELEMENTS} values"
        )));
    }
    let op = Conv {
        weight,
        bias,
        cin,
        input: win.input,
        cout,
        group,
        kernel: win.kernel,
        stride: win.stride,
        dilation: win.dilation,
        pads: win.pads,
        out: win.out,
        targets: Vec::new(),
    }
    .with_targets();
    let mut out = vec![1, cout];
    out.extend_from_slice(&win.out[3 - spatial.len()..]);
    b.push(ctx, Op::Conv(op), vec![x], out).map(|_| ())
}

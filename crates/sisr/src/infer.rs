//! Whole-image inference on planes, the 8-transform self-ensemble, and the colour handling of
//! Y-channel models (network on Y, MATLAB bicubic on Cb/Cr).

use crate::models::{ColorMode, Network};
use burn::prelude::*;
use sisr_image::Plane;
use sisr_image::color::{rgb_to_ycbcr_planes, ycbcr_to_rgb_planes};
use sisr_image::protocol::{LowRes, SuperRes, replicate};
use sisr_image::resize::imresize;

fn to_tensor(planes: &[&Plane<f64>], device: &Device) -> Tensor<4> {
    let (w, h) = (planes[0].width, planes[0].height);
    let data: Vec<f32> = planes.iter().flat_map(|p| p.data.iter().map(|&v| v as f32)).collect();
    Tensor::from_data(TensorData::new(data, [1, planes.len(), h, w]), device)
}

fn from_tensor(t: Tensor<4>) -> Vec<Plane<f64>> {
    let [_, c, h, w] = t.dims();
    let values = t.try_into_vec_as::<f32>().expect("network output is f32");
    (0..c).map(|i| Plane::new(w, h, values[i * w * h..(i + 1) * w * h].iter().map(|&v| f64::from(v)).collect())).collect()
}

/// Runs the network once on colour planes (1 for Y models, 3 for RGB) on the [0, 255] scale.
pub fn run_planes(network: &Network, planes: &[Plane<f64>], device: &Device) -> Vec<Plane<f64>> {
    let s = network.scale as f64;
    let refs: Vec<&Plane<f64>> = planes.iter().collect();
    let lr = to_tensor(&refs, device);
    let bicubic = network.kind.uses_bicubic().then(|| {
        let up: Vec<Plane<f64>> = planes.iter().map(|p| imresize(p, s)).collect();
        to_tensor(&up.iter().collect::<Vec<_>>(), device)
    });
    from_tensor(network.forward(lr, bicubic))
}

/// [`run_planes`], optionally averaged over the 8 dihedral transforms of the input.
pub fn run_planes_ensemble(network: &Network, planes: &[Plane<f64>], ensemble: bool, device: &Device) -> Vec<Plane<f64>> {
    if !ensemble {
        return run_planes(network, planes, device);
    }
    let mut sum: Option<Vec<Plane<f64>>> = None;
    for t in 0..8u8 {
        let input: Vec<Plane<f64>> = planes.iter().map(|p| p.dihedral(t)).collect();
        let out: Vec<Plane<f64>> = run_planes(network, &input, device).iter().map(|p| p.undo_dihedral(t)).collect();
        sum = Some(match sum {
            None => out,
            Some(acc) => acc.iter().zip(&out).map(|(a, b)| Plane::new(a.width, a.height, a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect())).collect(),
        });
    }
    sum.unwrap().into_iter().map(|p| p.map(|v| v / 8.0)).collect()
}

/// The one colour path of every front end (eval, upscale, the trainer's validation, the web
/// app, the Python package): Y models run on Y, with Cb/Cr by MATLAB bicubic when the input is
/// colour; RGB models run on R, G, B, a gray input replicated to R = G = B and averaged back.
/// `planes`: 1 (gray or Y) or 3 (R, G, B) planes on [0, 255]; `run` runs the network on its
/// planes (whole or in tiles). Returns as many planes as it was given.
pub fn upscale_colour(network: &Network, planes: Vec<Plane<f64>>, run: impl Fn(&[Plane<f64>]) -> Vec<Plane<f64>>) -> Vec<Plane<f64>> {
    let s = network.scale as f64;
    match (network.kind.color_mode(), planes.len()) {
        (ColorMode::Y, 1) | (ColorMode::Rgb, 3) => run(&planes),
        (ColorMode::Y, _) => {
            let [y, cb, cr] = rgb_to_ycbcr_planes(&replicate(&planes));
            let y = run(&[y]).remove(0);
            ycbcr_to_rgb_planes(&[y, imresize(&cb, s), imresize(&cr, s)]).to_vec()
        }
        (ColorMode::Rgb, _) => {
            let out = run(&replicate(&planes));
            let n = out[0].data.len();
            vec![Plane::new(out[0].width, out[0].height, (0..n).map(|i| (out[0].data[i] + out[1].data[i] + out[2].data[i]) / 3.0).collect())]
        }
    }
}

/// Upscales a protocol's LR input with a network ([`upscale_colour`] on the whole image). An
/// RGB model cannot be scored on the Y protocol's Y-only input.
pub fn upscale_lowres(network: &Network, lr: &LowRes, ensemble: bool, device: &Device) -> Result<SuperRes, String> {
    if let (ColorMode::Rgb, LowRes::Y(_)) = (network.kind.color_mode(), lr) {
        return Err(format!("{} works on RGB; evaluate it with --protocol rgb (or p2)", network.kind));
    }
    let out = upscale_colour(network, lr.planes(), |p| run_planes_ensemble(network, p, ensemble, device));
    Ok(match lr {
        LowRes::Y(_) => SuperRes::Y(out.into_iter().next().expect("one plane")),
        LowRes::Rgb(_) => SuperRes::Rgb(replicate(&out)),
    })
}

/// Scores a network (or MATLAB bicubic, `None`) on a folder of HR images as the papers'
/// tables do: the one evaluation behind `sisr eval`, its table, and the Python package.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    network: Option<&Network>,
    hr_dir: &std::path::Path,
    scale: usize,
    protocol: sisr_image::Protocol,
    sources: &sisr_image::protocol::Sources,
    limits: &sisr_image::DecodeLimits,
    ensemble: bool,
    device: &Device,
    progress: impl FnMut(&sisr_image::protocol::ImageScore),
) -> Result<sisr_image::protocol::DatasetScore, sisr_image::protocol::EvalError> {
    let upscale = |lr: &LowRes| match network {
        Some(net) => upscale_lowres(net, lr, ensemble, device),
        None => Ok(sisr_image::protocol::bicubic(lr, scale)),
    };
    sisr_image::protocol::evaluate_dataset(hr_dir, scale, protocol, sources, limits, upscale, progress)
}

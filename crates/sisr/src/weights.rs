//! Weights in safetensors, named after the module tree (`feature.0.conv.weight`), with the
//! model kind, scale and provenance in the header. Loading checks every tensor's name and
//! shape and refuses a mismatch with the tensor's name. The layout of another project that a
//! paper's file recognises (the DCSCN authors' TF checkpoint) is imported through that file's
//! [`ForeignLayout`].

use crate::models::{ModelKind, NamedMapper, NamedVisitor, Network};
use burn::module::Param;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Header keys written by sisr.
pub const KEY_MODEL: &str = "sisr.model";
pub const KEY_SCALE: &str = "sisr.scale";
/// Header key of a training checkpoint's loop state (its `optim.*` tensors are not weights).
pub const TRAIN_STATE_KEY: &str = "sisr.train_state";
/// Every scale a file serves, comma-separated (GLRL's one model for x2, x3 and x4); absent
/// when the file serves `sisr.scale` only.
pub const KEY_SCALES: &str = "sisr.scales";

pub type Metadata = BTreeMap<String, String>;

/// Tensors by name: shape and f32 values.
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Another project's checkpoint layout that a paper's file knows how to import (the DCSCN
/// authors' TF names and HWIO kernels): what model it holds, and the tensors under sisr's names.
#[derive(Clone, Copy)]
pub struct ForeignLayout {
    pub model: fn(&Tensors) -> Result<(ModelKind, usize), String>,
    pub convert: fn(&Tensors) -> Tensors,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a valid safetensors file ({message})", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{}: tensor `{name}` is missing (the model expects shape {expected:?})", path.display())]
    Missing { path: PathBuf, name: String, expected: Vec<usize> },
    #[error("{}: tensor `{name}` has shape {found:?}, the model expects {expected:?}", path.display())]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{}: tensor `{name}` is not part of a {model} x{scale} model", path.display())]
    Unexpected { path: PathBuf, name: String, model: ModelKind, scale: usize },
    #[error("{}: tensor `{name}` has dtype {dtype}, expected F32, F16 or BF16", path.display())]
    DType { path: PathBuf, name: String, dtype: String },
    #[error("{}: the file holds a {found} model, not {requested}", path.display())]
    ModelMismatch { path: PathBuf, found: String, requested: ModelKind },
    #[error("{}: the file holds a model for {}, not x{requested}", path.display(), found.iter().map(|s| format!("x{s}")).collect::<Vec<_>>().join("/"))]
    ScaleMismatch { path: PathBuf, found: Vec<usize>, requested: usize },
    #[error("{}: {message}", path.display())]
    Unknown { path: PathBuf, message: String },
}

/// Every parameter of a network as (module-tree name, shape).
pub fn parameter_shapes(network: &Network) -> Vec<(String, Vec<usize>)> {
    struct Shapes(Vec<(String, Vec<usize>)>);
    impl NamedVisitor for Shapes {
        fn param<const D: usize>(&mut self, name: &str, p: &Param<Tensor<D>>) {
            self.0.push((name.to_string(), p.lazy_shape().as_slice().to_vec()));
        }
    }
    let mut v = Shapes(vec![]);
    network.visit_named(&mut v);
    v.0
}

/// Every parameter of a network as (name, shape, f32 values).
pub fn parameter_values(network: &Network) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    struct Values(Vec<(String, Vec<usize>, Vec<f32>)>);
    impl NamedVisitor for Values {
        fn param<const D: usize>(&mut self, name: &str, p: &Param<Tensor<D>>) {
            let t = p.val();
            let shape = t.dims().to_vec();
            self.0.push((name.to_string(), shape, t.try_into_vec_as::<f32>().expect("parameters are f32")));
        }
    }
    let mut v = Values(vec![]);
    network.visit_named(&mut v);
    v.0
}

/// Replaces every parameter that has a tensor of the same name (shapes already checked).
fn apply(network: Network, tensors: Tensors) -> Network {
    struct Loader(Tensors);
    impl NamedMapper for Loader {
        fn param<const D: usize>(&mut self, name: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some((shape, values)) = self.0.remove(name) else { return param };
            let device = param.lazy_device();
            param.map(|_| {
                let t = Tensor::from_data(TensorData::new(values, shape), &device);
                // On an autodiff device a loaded parameter must be a tracked leaf to train.
                if device.is_autodiff() { t.require_grad() } else { t }
            })
        }
    }
    network.map_named(&mut Loader(tensors))
}

/// A NaN or infinite weight would give a black image and a meaningless score: refuse it.
fn check_finite(tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>, path: &Path) -> Result<(), WeightsError> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        if let Some(bad) = tensors[name].1.iter().find(|v| !v.is_finite()) {
            return Err(WeightsError::Unknown {
                path: path.into(),
                message: format!("tensor `{name}` holds {bad} (the training diverged or the file is damaged)"),
            });
        }
    }
    Ok(())
}

/// Checks `tensors` against the network's parameters and loads them.
pub fn load_tensors(network: Network, tensors: HashMap<String, (Vec<usize>, Vec<f32>)>, path: &Path) -> Result<Network, WeightsError> {
    let expected = parameter_shapes(&network);
    for (name, shape) in &expected {
        match tensors.get(name) {
            None => return Err(WeightsError::Missing { path: path.into(), name: name.clone(), expected: shape.clone() }),
            Some((found, _)) if found != shape => {
                return Err(WeightsError::Shape { path: path.into(), name: name.clone(), expected: shape.clone(), found: found.clone() });
            }
            Some(_) => {}
        }
    }
    check_finite(&tensors, path)?;
    let known: std::collections::HashSet<&String> = expected.iter().map(|(n, _)| n).collect();
    let mut extra: Vec<&String> = tensors.keys().filter(|k| !known.contains(k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(WeightsError::Unexpected { path: path.into(), name: (*name).clone(), model: network.kind, scale: network.scale });
    }
    Ok(apply(network, tensors))
}

/// Starts `network` from a trained model of the same kind at another scale (or the same),
/// as EDSR starts x3/x4 from x2: every tensor whose name and shape match is copied, the
/// others (the scale-specific upsampler) keep their initialisation; their names are returned.
pub fn warm_start(network: Network, file: &WeightsFile) -> Result<(Network, Vec<String>), WeightsError> {
    let (kind, _) = file.model()?;
    if kind != network.kind {
        return Err(WeightsError::ModelMismatch { path: file.path.clone(), found: kind.name().into(), requested: network.kind });
    }
    let mut tensors = file.sisr_tensors();
    let expected = parameter_shapes(&network);
    let mut kept = Vec::new();
    for (name, shape) in &expected {
        if tensors.get(name).is_none_or(|(found, _)| found != shape) {
            tensors.remove(name);
            kept.push(name.clone());
        }
    }
    if kept.len() == expected.len() {
        return Err(WeightsError::Unknown { path: file.path.clone(), message: format!("shares no tensor with {} x{}", network.kind, network.scale) });
    }
    tensors.retain(|name, _| expected.iter().any(|(n, _)| n == name));
    check_finite(&tensors, &file.path)?;
    Ok((apply(network, tensors), kept))
}

/// Serialises a network with `metadata` (model kind and scale are always added).
pub fn to_bytes(network: &Network, metadata: &Metadata) -> Vec<u8> {
    to_bytes_with(network, metadata, &[])
}

/// [`to_bytes`] plus extra 1-D tensors (e.g. optimizer state in a checkpoint).
pub fn to_bytes_with(network: &Network, metadata: &Metadata, extra: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut values = parameter_values(network);
    values.extend(extra.iter().map(|(n, v)| (n.clone(), vec![v.len()], v.clone())));
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = values.into_iter().map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        bytes.iter().map(|(n, s, b)| (n.clone(), safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).expect("consistent tensor"))).collect();
    let mut info: HashMap<String, String> = metadata.clone().into_iter().collect();
    info.insert(KEY_MODEL.into(), network.kind.name().into());
    info.insert(KEY_SCALE.into(), network.scale.to_string());
    safetensors::serialize(views, Some(info)).expect("serialisable tensors")
}

/// Writes a network atomically (temp file + rename).
pub fn save(network: &Network, path: &Path, metadata: &Metadata) -> Result<(), WeightsError> {
    sisr_image::io::write_atomic(path, &to_bytes(network, metadata)).map_err(|source| WeightsError::Io { path: path.into(), source })
}

/// A parsed weights file: its tensors (f32) and header metadata.
pub struct WeightsFile {
    pub path: PathBuf,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: Metadata,
}

impl WeightsFile {
    pub fn read(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.into(), source })?;
        Self::parse(&bytes, path)
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, WeightsError> {
        let format = |e: safetensors::SafeTensorError| WeightsError::Format { path: path.into(), message: e.to_string() };
        let st = SafeTensors::deserialize(bytes).map_err(format)?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(format)?;
        let metadata: Metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                Dtype::F16 => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
                Dtype::BF16 => data.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
                other => return Err(WeightsError::DType { path: path.into(), name, dtype: format!("{other:?}") }),
            };
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(WeightsFile { path: path.into(), tensors, metadata })
    }

    /// The other project's layout the file is in, if a paper's file recognises one.
    fn foreign(&self) -> Option<ForeignLayout> {
        crate::models::foreign_layout(&self.tensors)
    }

    /// The tensors under sisr's names (a foreign layout converted).
    fn sisr_tensors(&self) -> Tensors {
        match self.foreign() {
            Some(layout) => (layout.convert)(&self.tensors),
            None => self.tensors.clone(),
        }
    }

    /// The model kind and scale the file holds (header, or inferred from a foreign layout).
    pub fn model(&self) -> Result<(ModelKind, usize), WeightsError> {
        if let Some(layout) = self.foreign() {
            return (layout.model)(&self.tensors).map_err(|message| WeightsError::Unknown { path: self.path.clone(), message });
        }
        let unknown = |message: &str| WeightsError::Unknown { path: self.path.clone(), message: message.into() };
        let name = self.metadata.get(KEY_MODEL).ok_or_else(|| unknown("no `sisr.model` in the header; pass --model and --scale"))?;
        let kind = ModelKind::parse(name).ok_or_else(|| unknown(&format!("unknown model `{name}` in the header")))?;
        let scale = self.metadata.get(KEY_SCALE).and_then(|s| s.parse().ok()).ok_or_else(|| unknown("no valid `sisr.scale` in the header"))?;
        if !kind.scales().contains(&scale) {
            return Err(unknown(&format!("the header says x{scale}, but {kind} supports {:?}", kind.scales())));
        }
        Ok((kind, scale))
    }

    /// Every scale the file serves: the header's `sisr.scales` (checked against the model's
    /// scales), or its one `sisr.scale`.
    pub fn scales(&self) -> Result<Vec<usize>, WeightsError> {
        let (kind, scale) = self.model()?;
        let Some(list) = self.metadata.get(KEY_SCALES) else { return Ok(vec![scale]) };
        let bad = || WeightsError::Unknown {
            path: self.path.clone(),
            message: format!("`{KEY_SCALES}` = {list:?} is not a list of {kind} scales including x{scale}"),
        };
        let scales: Vec<usize> = list.split(',').map(|s| s.trim().parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
        if !scales.contains(&scale) || scales.iter().any(|s| !kind.scales().contains(s)) {
            return Err(bad());
        }
        Ok(scales)
    }

    /// The file re-encoded with its tensors stored as `dtype` and `metadata` merged into its
    /// header (the DCSCN authors' layout is converted to sisr's names). A training checkpoint
    /// becomes a model file: its optimizer slots are dropped and its loop state becomes the
    /// provenance a finished run writes (steps, best validation, warm start, seconds).
    pub fn to_bytes(&self, dtype: StoreDtype, metadata: &Metadata) -> Result<Vec<u8>, WeightsError> {
        let (kind, scale) = self.model()?;
        let mut tensors = self.sisr_tensors();
        let mut header = self.metadata.clone();
        if let Some(state) = header.remove(TRAIN_STATE_KEY) {
            tensors.retain(|name, _| !name.starts_with("optim."));
            let state: serde_json::Value = serde_json::from_str(&state)
                .map_err(|e| WeightsError::Unknown { path: self.path.clone(), message: format!("unreadable training state: {e}") })?;
            if let Some(step) = state["step"].as_u64() {
                header.insert("sisr.steps".into(), step.to_string());
            }
            if let (Some(p), Some(s)) = (state["best_psnr"].as_f64(), state["best_ssim"].as_f64()) {
                header.insert("sisr.validation".into(), format!("x{scale}: {p:.4} dB / {s:.5}"));
            }
            if let Some(init) = state["init"].as_str() {
                header.insert("sisr.init".into(), init.into());
            }
            if let Some(seconds) = state["seconds"].as_f64() {
                header.insert("sisr.train_seconds".into(), format!("{seconds:.0}"));
            }
        }
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let encoded: Vec<(&String, &Vec<usize>, Vec<u8>)> = names.into_iter().map(|n| (n, &tensors[n].0, dtype.encode(&tensors[n].1))).collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = encoded
            .iter()
            .map(|(n, s, b)| ((*n).clone(), safetensors::tensor::TensorView::new(dtype.safetensors(), s.to_vec(), b).expect("consistent tensor")))
            .collect();
        let mut info: HashMap<String, String> = header.into_iter().chain(metadata.clone()).collect();
        info.insert(KEY_MODEL.into(), kind.name().into());
        info.insert(KEY_SCALE.into(), scale.to_string());
        safetensors::serialize(views, Some(info)).map_err(|e| WeightsError::Format { path: self.path.clone(), message: e.to_string() })
    }

    /// Loads into a fresh network of the file's (or the requested) kind and scale.
    pub fn into_network(self, requested: Option<(ModelKind, usize)>, device: &Device) -> Result<(Network, Metadata), WeightsError> {
        let (kind, scale) = self.model()?;
        if let Some((want_kind, want_scale)) = requested {
            if want_kind != kind {
                return Err(WeightsError::ModelMismatch { path: self.path.clone(), found: kind.name().into(), requested: want_kind });
            }
            let scales = self.scales()?;
            if !scales.contains(&want_scale) {
                return Err(WeightsError::ScaleMismatch { path: self.path.clone(), found: scales, requested: want_scale });
            }
        }
        let scale = requested.map_or(scale, |(_, s)| s);
        let network = kind.build(scale, device).ok_or_else(|| WeightsError::Unknown { path: self.path.clone(), message: "bicubic has no weights".into() })?;
        let mut tensors = self.sisr_tensors();
        // A training checkpoint also holds the optimizer's slots: the network is the rest.
        if self.metadata.contains_key(TRAIN_STATE_KEY) {
            tensors.retain(|name, _| !name.starts_with("optim."));
        }
        let network = load_tensors(network, tensors, &self.path)?;
        Ok((network, self.metadata))
    }
}

/// How a weights file stores its tensors: exact f32, or half the size in f16 / bf16 (the
/// network still computes in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDtype {
    F32,
    F16,
    Bf16,
}

impl StoreDtype {
    pub const ALL: [StoreDtype; 3] = [StoreDtype::F32, StoreDtype::F16, StoreDtype::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            StoreDtype::F32 => "f32",
            StoreDtype::F16 => "f16",
            StoreDtype::Bf16 => "bf16",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name.to_ascii_lowercase())
    }

    fn safetensors(self) -> Dtype {
        match self {
            StoreDtype::F32 => Dtype::F32,
            StoreDtype::F16 => Dtype::F16,
            StoreDtype::Bf16 => Dtype::BF16,
        }
    }

    /// Little-endian bytes of `values` in this precision (round to nearest even).
    fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            StoreDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            StoreDtype::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
            StoreDtype::Bf16 => values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
        }
    }
}

//! What every subcommand may need from the command line as a whole: the chosen backend and
//! its device, the decode limits, and clap parsers for the library's enums (listed in
//! `--help`, checked by clap).

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use sisr::models::ModelKind;
use sisr_image::Protocol;

/// The global options: the compute backend chosen with `--backend` and its device, checked
/// before a command runs.
pub struct Globals {
    pub backend: sisr::Backend,
    pub device: sisr::Device,
}

impl Globals {
    /// The context of `backend`, or why this build cannot run it.
    pub fn new(backend: sisr::Backend) -> Result<Self, String> {
        Ok(Globals { backend, device: backend.device()? })
    }
}

/// Decode limits shared by every command that reads images.
#[derive(clap::Args, Clone, Copy)]
pub struct LimitArgs {
    /// Largest width or height an input may have (pixels).
    #[arg(long, default_value_t = 20_000)]
    pub max_dimension: u32,
    /// Largest allocation a decoder may make (MiB).
    #[arg(long, default_value_t = 2048)]
    pub max_alloc_mb: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> sisr_image::DecodeLimits {
        sisr_image::DecodeLimits { max_width: self.max_dimension, max_height: self.max_dimension, max_alloc: self.max_alloc_mb << 20 }
    }
}

/// A parser accepting `values` (with their aliases) and turning the accepted name into a `T`.
fn choice<T: Clone + Send + Sync + 'static>(values: impl IntoIterator<Item = PossibleValue>, parse: fn(&str) -> Option<T>) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(values).map(move |name| parse(&name).expect("clap accepted one of the possible values"))
}

/// `--model NAME`.
pub fn model_parser() -> impl TypedValueParser<Value = ModelKind> {
    choice(ModelKind::ALL.map(|k| PossibleValue::new(k.name())), ModelKind::parse)
}

/// `--protocol NAME`.
pub fn protocol_parser() -> impl TypedValueParser<Value = Protocol> {
    let values = [
        PossibleValue::new("y").help("VDSR/DRRN test code, the Y-channel papers' tables: Y in double precision in, metrics on Y"),
        PossibleValue::new("rgb").alias("p1").help("RCAN/EDSR, the RGB papers' tables: uint8 RGB in, metrics on the unrounded Y of the output"),
        PossibleValue::new("p2").help("SelfExSR tables: as rgb, metrics on the rounded uint8 Y"),
    ];
    choice(values, Protocol::parse)
}

/// `--backend NAME`.
pub fn backend_parser() -> impl TypedValueParser<Value = sisr::Backend> {
    choice(sisr::Backend::ALL.map(|b| PossibleValue::new(b.name())), sisr::Backend::parse)
}

/// `--precision NAME`.
pub fn precision_parser() -> impl TypedValueParser<Value = sisr::Precision> {
    let values = sisr::Precision::ALL.map(|p| PossibleValue::new(p.name()).help(p.description()));
    choice(values, sisr::Precision::parse)
}

//! `chart.png` of a training run: the training loss (log10) and the validation PSNR over
//! steps, drawn from the run's `log.csv`. Labels need a TrueType font from the system (or
//! `SISR_FONT`); without one the chart is drawn unlabelled.

use anyhow::{Context, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers the first usable font as "sans-serif"; whether labels can be drawn.
pub fn font_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let from_env = std::env::var("SISR_FONT").ok();
        from_env.iter().map(String::as_str).chain(FONT_PATHS.iter().copied()).any(|path| {
            std::fs::read(path).is_ok_and(|bytes| plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).is_ok())
        })
    })
}

struct Series {
    loss: Vec<(f64, f64)>,
    psnr: Vec<(f64, f64)>,
}

fn read_log(log: &Path) -> Result<Series> {
    let text = std::fs::read_to_string(log).with_context(|| format!("{}: cannot read the training log", log.display()))?;
    let mut series = Series { loss: vec![], psnr: vec![] };
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(step), Some(loss)) = (fields.first().and_then(|v| v.parse::<f64>().ok()), fields.get(1).and_then(|v| v.parse::<f64>().ok())) else {
            continue;
        };
        if loss > 0.0 {
            series.loss.push((step, loss.log10()));
        }
        if let Some(psnr) = fields.get(3).and_then(|v| v.parse::<f64>().ok()) {
            series.psnr.push((step, psnr));
        }
    }
    Ok(series)
}

fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi > lo { (lo, hi) } else { (lo - 1.0, lo + 1.0) }
}

/// Draws `chart.png` for the log and writes it atomically to `out`.
pub fn write_chart(log: &Path, out: &Path, title: &str) -> Result<()> {
    let series = read_log(log)?;
    if series.loss.is_empty() {
        return Ok(());
    }
    let (w, h) = (900u32, 640u32);
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    draw(&mut buffer, (w, h), &series, title, font_available()).map_err(|e| anyhow::anyhow!("{}: cannot draw the chart: {e}", out.display()))?;
    let image = sisr_image::Image::from_u8(w as usize, h as usize, sisr_image::Layout::Rgb, buffer);
    sisr_image::io::save(&image, out)?;
    Ok(())
}

fn label<DB: DrawingBackend, X: Ranged, Y: Ranged>(mesh: &mut plotters::chart::MeshStyle<'_, '_, X, Y, DB>, y: &str, labels: bool)
where
    X::ValueType: std::fmt::Debug,
    Y::ValueType: std::fmt::Debug,
{
    if labels {
        mesh.y_desc(y).x_desc("step");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
}

fn draw(buffer: &mut [u8], size: (u32, u32), s: &Series, title: &str, labels: bool) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buffer, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = if labels { root.titled(title, ("sans-serif", 22))? } else { root };
    let (top, bottom) = root.split_vertically(size.1 as i32 / 2 - 20);
    let steps = range(s.loss.iter().chain(&s.psnr).map(|p| p.0));
    let (lo, hi) = range(s.loss.iter().map(|p| p.1));
    let axis_label = |labels: bool| if labels { 40 } else { 0 };

    let mut loss = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(axis_label(labels))
        .y_label_area_size(axis_label(labels) + 30)
        .build_cartesian_2d(steps.0..steps.1, lo - 0.05..hi + 0.05)?;
    let mut mesh = loss.configure_mesh();
    label(&mut mesh, "log10 training loss", labels);
    mesh.draw()?;
    loss.draw_series(LineSeries::new(s.loss.iter().copied(), &BLUE))?;

    if !s.psnr.is_empty() {
        let (lo, hi) = range(s.psnr.iter().map(|p| p.1));
        let pad = (hi - lo).max(0.1) * 0.1;
        let mut psnr = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(axis_label(labels))
            .y_label_area_size(axis_label(labels) + 30)
            .build_cartesian_2d(steps.0..steps.1, lo - pad..hi + pad)?;
        let mut mesh = psnr.configure_mesh();
        label(&mut mesh, "validation PSNR (dB)", labels);
        mesh.draw()?;
        psnr.draw_series(LineSeries::new(s.psnr.iter().copied(), &RED))?;
        psnr.draw_series(s.psnr.iter().map(|&p| Circle::new(p, 3, RED.filled())))?;
    }
    root.present()?;
    Ok(())
}

/// One model on the complexity chart.
pub struct ModelPoint {
    pub label: String,
    pub params: usize,
    pub psnr: f64,
    /// Measured by sisr (filled) or published by a paper (hollow).
    pub measured: bool,
}

/// PSNR against parameters (log scale), as the papers' complexity figures (DCSCN Table 3,
/// DRFN Fig. 5), written atomically to `out` as PNG.
pub fn write_complexity_chart(points: &[ModelPoint], out: &Path, title: &str) -> Result<()> {
    anyhow::ensure!(!points.is_empty(), "{}: no model to draw", out.display());
    let (w, h) = (900u32, 600u32);
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    draw_complexity(&mut buffer, (w, h), points, title, font_available()).map_err(|e| anyhow::anyhow!("{}: cannot draw the chart: {e}", out.display()))?;
    let image = sisr_image::Image::from_u8(w as usize, h as usize, sisr_image::Layout::Rgb, buffer);
    sisr_image::io::save(&image, out)?;
    Ok(())
}

fn draw_complexity(buffer: &mut [u8], size: (u32, u32), points: &[ModelPoint], title: &str, labels: bool) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buffer, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = if labels { root.titled(title, ("sans-serif", 22))? } else { root };
    let (plo, phi) = range(points.iter().map(|p| (p.params.max(1) as f64).log10()));
    let (ylo, yhi) = range(points.iter().map(|p| p.psnr));
    let pad = (yhi - ylo).max(0.2) * 0.12;
    let x = 10f64.powf(plo - 0.3)..10f64.powf(phi + 0.4);
    let area = if labels { 50 } else { 0 };
    let mut chart =
        ChartBuilder::on(&root).margin(15).x_label_area_size(area).y_label_area_size(area + 10).build_cartesian_2d(x.log_scale(), ylo - pad..yhi + pad)?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("parameters (log scale)")
            .y_desc("Set5 PSNR (dB)")
            .x_label_formatter(&|v| if *v >= 1e6 { format!("{}M", v / 1e6) } else { format!("{}k", v / 1e3) });
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for p in points {
        let at = (p.params.max(1) as f64, p.psnr);
        let colour = if p.measured { BLUE } else { RED };
        let style = if p.measured { colour.filled() } else { colour.stroke_width(2) };
        let dot = EmptyElement::at(at) + Circle::new((0, 0), 6, style);
        if labels {
            chart.draw_series(std::iter::once(dot + Text::new(p.label.clone(), (9, -7), ("sans-serif", 15).into_font().color(&colour))))?;
        } else {
            chart.draw_series(std::iter::once(dot))?;
        }
    }
    root.present()?;
    Ok(())
}

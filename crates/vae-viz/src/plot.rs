//! Charts drawn with plotters into an in-memory bitmap, encoded as PNG: the latent scatter
//! coloured by class, and loss curves.

use super::grid::png_bytes_rgb;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;
use vae::train::EpochMetrics;
use vae::{Error, Result};

/// Registers the embedded DejaVu font once, so text renders with no system font library.
fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn draw_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Config(format!("cannot draw chart: {e}"))
}

/// Ten distinct colours (Tableau 10), one per class.
pub const CLASS_COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    fonts();
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    vae::fsutil::write_atomic(path, &png_bytes_rgb(&buf, size.0, size.1)?)
}

/// Scatter of 2-d points coloured by label, with a legend of class names.
pub fn scatter(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    points: &[(f32, f32)],
    labels: &[u8],
    class_names: &[String],
) -> Result<()> {
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
    {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
    }
    let (px, py) = (((x1 - x0) * 0.05).max(1e-3), ((y1 - y0) * 0.05).max(1e-3));
    render(path, (900, 760), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        for (class, name) in class_names.iter().enumerate() {
            let (r, g, b) = CLASS_COLOURS[class % CLASS_COLOURS.len()];
            let colour = RGBColor(r, g, b);
            let pts = points
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l as usize == class)
                .map(|(&(x, y), _)| Circle::new((x, y), 2, colour.mix(0.6).filled()));
            chart
                .draw_series(pts)
                .map_err(draw_err)?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_err)?;
        Ok(())
    })
}

/// Train and test curves of total, reconstruction and KL per epoch.
pub fn loss_curves(path: &Path, epochs: &[EpochMetrics]) -> Result<()> {
    render(path, (1200, 420), |root| {
        let panels = root.split_evenly((1, 3));
        type TrainTest = fn(&EpochMetrics) -> (f64, f64);
        let series: [(&str, TrainTest); 3] = [
            ("total loss", |m| (m.train.total, m.test.total)),
            ("reconstruction", |m| (m.train.recon, m.test.recon)),
            ("KL", |m| (m.train.kl, m.test.kl)),
        ];
        for (panel, (name, get)) in panels.iter().zip(series) {
            let values: Vec<(f64, f64)> = epochs.iter().map(get).collect();
            let lo = values
                .iter()
                .flat_map(|&(a, b)| [a, b])
                .fold(f64::MAX, f64::min);
            let hi = values
                .iter()
                .flat_map(|&(a, b)| [a, b])
                .fold(f64::MIN, f64::max);
            let (lo, hi) = if lo < hi {
                (lo, hi)
            } else {
                (lo - 1.0, lo + 1.0)
            };
            let pad = (hi - lo) * 0.08;
            let last = epochs.last().map_or(1, |m| m.epoch).max(2) as f64;
            let mut chart = ChartBuilder::on(panel)
                .caption(name, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(1f64..last, lo - pad..hi + pad)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("nats / image")
                .draw()
                .map_err(draw_err)?;
            for (label, colour, pick) in [("train", BLUE, 0usize), ("test", RED, 1usize)] {
                let line = epochs
                    .iter()
                    .zip(&values)
                    .map(|(m, v)| (m.epoch as f64, if pick == 0 { v.0 } else { v.1 }));
                chart
                    .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
                    .map_err(draw_err)?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
                chart
                    .draw_series(line.map(|p| Circle::new(p, 3, colour.filled())))
                    .map_err(draw_err)?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(draw_err)?;
        }
        Ok(())
    })
}

/// The rate-distortion curve of a beta sweep: KL (rate) against reconstruction (distortion),
/// one labelled point per beta, joined in order of beta.
pub fn rate_distortion(path: &Path, points: &[(f64, f64, f64)]) -> Result<()> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(_, x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let (px, py) = (((x1 - x0) * 0.12).max(1.0), ((y1 - y0) * 0.12).max(1.0));
    render(path, (800, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Rate and distortion per beta (test set)",
                ("sans-serif", 22),
            )
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("rate: KL(q(z|x) || p(z)), nats / image")
            .y_desc("distortion: reconstruction, nats / image")
            .draw()
            .map_err(draw_err)?;
        let line = points.iter().map(|&(_, x, y)| (x, y));
        chart
            .draw_series(LineSeries::new(line, BLUE.stroke_width(2)))
            .map_err(draw_err)?;
        chart
            .draw_series(points.iter().map(|&(beta, x, y)| {
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 5, BLUE.filled())
                    + Text::new(format!("beta {beta}"), (8, -16), ("sans-serif", 16))
            }))
            .map_err(draw_err)?;
        Ok(())
    })
}

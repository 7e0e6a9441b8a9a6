//! The sweep report: `rate_distortion.png` and `report.html` with the table of test ELBO,
//! active units and disentanglement metrics per beta, and every run's samples and traversals
//! side by side.

use super::report::esc;
use super::{SAMPLES_PNG, TRAVERSALS_PNG, plot};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vae::Result;
use vae::sweep::SweepReport;

pub const RATE_DISTORTION_PNG: &str = "rate_distortion.png";

/// Writes the chart and the page into the sweep folder.
pub fn write(dir: &Path, report: &SweepReport) -> Result<Vec<PathBuf>> {
    let points: Vec<(f64, f64, f64)> = report
        .entries
        .iter()
        .map(|e| (e.beta, e.eval.kl, e.eval.recon))
        .collect();
    let chart = dir.join(RATE_DISTORTION_PNG);
    plot::rate_distortion(&chart, &points)?;

    let c = &report.config;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>beta sweep: {title}</title>\
         <style>body{{font-family:sans-serif;max-width:1400px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f3f3f3}}img{{max-width:100%;border:1px solid #ddd}}\
         .side{{display:flex;gap:12px;align-items:flex-start}}.side figure{{flex:1;margin:0}}</style></head><body>\
         <h1>beta sweep: {title}</h1><p>{dataset} &middot; {arch} &middot; latent {latent} &middot; loss {loss:?} &middot; \
         {epochs} epochs &middot; {limit} &middot; seed {seed}</p>",
        title = super::report::esc(&dir.display().to_string()),
        dataset = c.dataset.name(),
        arch = c.arch,
        latent = report.entries.first().map_or(0, |e| e.latent_dim),
        loss = c.loss,
        epochs = c.epochs,
        limit = c
            .limit
            .map_or("all training images".to_string(), |n| format!(
                "{n} training images"
            )),
        seed = c.seed,
    );
    let (columns, values) = report.metric_columns();
    let grey = report.entries.iter().any(|e| e.eval.is_grey_bce());
    let _ = write!(
        h,
        "<h2>Per beta (test set)</h2><table><tr><th>beta</th><th>{}</th><th>reconstruction</th>\
         <th>KL (rate)</th><th>active units</th><th>KL per active unit</th>",
        if grey { "-(BCE+KL)" } else { "ELBO" }
    );
    for c in &columns {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
    for (e, values) in report.entries.iter().zip(values) {
        let _ = write!(
            h,
            "<tr><td><a href=\"{run}/report.html\">{beta}</a></td><td>{}</td><td>{:.2}</td><td>{:.2}</td>\
             <td>{} / {}</td><td>{}</td>",
            opt(e.eval.elbo_or_formula()),
            e.eval.recon,
            e.eval.kl,
            e.eval.active_units,
            e.latent_dim,
            opt(e.kl_per_active_dim),
            run = e.run,
            beta = e.beta,
        );
        for v in values {
            let _ = write!(
                h,
                "<td>{}</td>",
                v.map_or("n/a".to_string(), |v| format!("{v:.3}"))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if grey {
        let _ = write!(
            h,
            "<p><b>Not likelihoods:</b> {}.</p>",
            esc(vae::eval::GREY_CAVEAT)
        );
    }
    h.push_str("<p>KL per active unit: the KL of the active dimensions (variance of z_mean above 0.01) divided by their number.</p>");
    // How each metric in the table was measured: its notes, from the first run that has it.
    let mut noted = Vec::new();
    for e in &report.entries {
        for (metric, value) in e.eval.computed() {
            if metric.scalars(value).is_ok_and(|s| !s.is_empty()) && !noted.contains(&metric.key())
            {
                noted.push(metric.key());
                if let Ok(section) = metric.section(value, &report.config) {
                    for note in section.notes {
                        let _ = write!(h, "<p>{}</p>", esc(&note));
                    }
                }
            }
        }
    }
    let _ = write!(
        h,
        "<figure><img src=\"{RATE_DISTORTION_PNG}\" alt=\"rate and distortion\"><figcaption>Rate (KL) \
         against distortion (reconstruction): higher beta buys a cheaper code with worse reconstructions.\
         </figcaption></figure>"
    );
    for (file, title) in [
        (SAMPLES_PNG, "Samples from the prior"),
        (
            TRAVERSALS_PNG,
            "Latent traversals (rows: dimensions by decreasing KL; columns: -3 to 3)",
        ),
    ] {
        let _ = write!(h, "<h2>{title}</h2><div class=\"side\">");
        for e in &report.entries {
            let _ = write!(
                h,
                "<figure><img src=\"{run}/{file}\" alt=\"{file}\"><figcaption>beta {beta}</figcaption></figure>",
                run = e.run,
                beta = e.beta
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</body></html>");
    let page = dir.join("report.html");
    vae::fsutil::write_atomic(&page, h.as_bytes())?;
    Ok(vec![chart, page])
}

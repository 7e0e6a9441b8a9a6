//! `report.html`: one self-contained page per run (pictures referenced by relative path) with
//! the config, the per-epoch metrics and the evaluation.

use super::*;
use std::fmt::Write as _;
use vae::eval::EvalReport;
use vae::run::{EVAL_FILE, METRICS_FILE};

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes `report.html` into the run folder.
pub fn write(run: &Run) -> Result<PathBuf> {
    let kind = if run.model_config.autoencoder {
        "plain autoencoder"
    } else {
        "VAE"
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>vae report: {title}</title>\
         <style>body{{font-family:sans-serif;max-width:1250px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f3f3f3}}img{{max-width:100%;border:1px solid #ddd;margin:4px 0}}\
         figure{{margin:1.5em 0}}figcaption{{color:#555}}pre{{background:#f7f7f7;padding:1em}}</style></head><body>\
         <h1>{title}</h1><p>{kind} &middot; {arch:?} &middot; latent {latent} &middot; loss {loss:?} &middot; beta {beta}</p>",
        title = esc(&run.dir.display().to_string()),
        arch = run.model_config.arch,
        latent = run.model_config.latent_dim,
        loss = run.config.loss(),
        beta = run.config.beta,
    );

    if let Ok(text) = std::fs::read_to_string(run.path(EVAL_FILE))
        && let Ok(eval) = serde_json::from_str::<EvalReport>(&text)
    {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let _ = write!(
            h,
            "<h2>Evaluation ({} test images)</h2><table><tr><th>ELBO</th><th>recon</th><th>KL</th>\
             <th>NLL (IWAE, K={})</th><th>active units</th></tr><tr><td>{}</td><td>{:.2}</td>\
             <td>{:.2}</td><td>{}</td><td>{} / {}</td></tr></table>",
            eval.images,
            eval.iw_samples,
            opt(eval.elbo),
            eval.recon,
            eval.kl,
            opt(eval.nll_iw),
            eval.active_units,
            run.model_config.latent_dim
        );
        if !eval.kl_per_dim.is_empty() {
            let cells: String = eval
                .kl_per_dim
                .iter()
                .map(|k| format!("<td>{k:.2}</td>"))
                .collect();
            let heads: String = (0..eval.kl_per_dim.len())
                .map(|d| format!("<th>z{d}</th>"))
                .collect();
            let _ = write!(
                h,
                "<p>KL per latent dimension (nats)</p><table><tr>{heads}</tr><tr>{cells}</tr></table>"
            );
        }
        if let Some(d) = &eval.disentanglement {
            let heads: String = d
                .factors
                .iter()
                .map(|f| format!("<th>MIG {}</th>", esc(f)))
                .collect();
            let cells: String = d
                .mig
                .gaps
                .iter()
                .map(|g| format!("<td>{g:.3}</td>"))
                .collect();
            let o = &d.options;
            let _ = write!(
                h,
                "<h2>Disentanglement</h2><table><tr><th>MIG</th><th>beta-VAE metric</th><th>FactorVAE metric</th>{heads}</tr>\
                 <tr><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td>{cells}</tr></table>\
                 <p>MIG over {} observations; beta-VAE and FactorVAE metrics: held-out accuracy over {} points, classifiers trained on {}, {} observations per point.</p>",
                d.mig.score,
                d.beta_vae.eval,
                d.factor_vae.eval,
                o.mig_points,
                o.eval_points,
                o.train_points,
                o.batch
            );
        }
    }

    let figures = [
        (SAMPLES_PNG, "Samples: z drawn from N(0, I) and decoded."),
        (
            RECONSTRUCTIONS_PNG,
            "Reconstructions: test images (upper row of each pair) and their decoded z_mean (lower row).",
        ),
        (
            INTERPOLATE_LINEAR_PNG,
            "Linear interpolation between the z_mean of two test images (the inputs at the ends).",
        ),
        (
            INTERPOLATE_SLERP_PNG,
            "Spherical interpolation between the same pairs.",
        ),
        (
            LATENT_SCATTER_PNG,
            "The test set in latent space, coloured by class.",
        ),
        (
            MANIFOLD_PNG,
            "The 2-d latent manifold: a grid of N(0, 1) quantiles decoded.",
        ),
        (
            TRAVERSALS_PNG,
            "Latent traversals: one row per latent dimension, largest KL first; the first test image's z_mean with that dimension swept from -3 to 3.",
        ),
        (
            LOSS_CURVES_PNG,
            "Loss per epoch (train: mean over the epoch; test: after the epoch).",
        ),
    ];
    for (file, caption) in figures {
        if run.path(file).is_file() {
            let _ = write!(
                h,
                "<figure><img src=\"{file}\" alt=\"{file}\"><figcaption>{caption}</figcaption></figure>"
            );
        }
    }

    let metrics = vae::train::metrics::read(&run.path(METRICS_FILE))?;
    if !metrics.is_empty() {
        h.push_str("<h2>Metrics per epoch (per image)</h2><table><tr><th>epoch</th><th>train total</th><th>train recon</th><th>train KL</th><th>test total</th><th>test recon</th><th>test KL</th><th>seconds</th><th>images/s</th></tr>");
        for m in &metrics {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td><td>{:.0}</td></tr>",
                m.epoch,
                m.train.total,
                m.train.recon,
                m.train.kl,
                m.test.total,
                m.test.recon,
                m.test.kl,
                m.seconds,
                m.images_per_second
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<h2>Config</h2><pre>{}</pre></body></html>",
        esc(&run.config.to_toml())
    );
    let path = run.path("report.html");
    vae::fsutil::write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

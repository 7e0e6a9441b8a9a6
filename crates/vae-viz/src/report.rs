//! `report.html`: one self-contained page per run (pictures referenced by relative path) with
//! the config, the per-epoch metrics and the evaluation.

use super::*;
use std::fmt::Write as _;
use vae::eval::EvalReport;
use vae::model::Prior;
use vae::run::{EVAL_FILE, METRICS_FILE};

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A conditional run's class picker: a list of its classes (or attributes) that swaps in the
/// samples (and, for 2-d latents, the manifold) drawn for the chosen one.
fn class_picker(h: &mut String, run: &Run, conditioning: &vae::model::Conditioning) {
    let options: String = conditioning
        .every_choice()
        .iter()
        .map(|(name, _)| {
            format!(
                "<option value=\"{}\">{}</option>",
                esc(&class_file("", Some(name))),
                esc(name)
            )
        })
        .collect();
    let manifold = run.path(&class_file("manifold", Some(&conditioning.names[0])));
    let manifold_img = if manifold.is_file() {
        "<img id=\"class-manifold\" alt=\"manifold of the chosen class\">"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<h2>Draw a class</h2><p><label>class <select id=\"class\">{options}</select></label></p>\
         <figure><img id=\"class-samples\" alt=\"samples of the chosen class\">{manifold_img}\
         <figcaption>Samples of the chosen class: z drawn from N(0, I), decoded with its condition{}.</figcaption></figure>\
         <script>const pick=document.getElementById('class');\
         function show(){{const f=pick.value;document.getElementById('class-samples').src='samples'+f;\
         const m=document.getElementById('class-manifold');if(m)m.src='manifold'+f;}}\
         pick.addEventListener('change',show);show();</script>",
        if manifold_img.is_empty() {
            ""
        } else {
            "; beside them, the 2-d latent manifold decoded for it"
        }
    );
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
         <h1>{title}</h1><p>{kind} &middot; {arch} &middot; latent {latent} &middot; loss {loss:?} &middot; beta {beta}</p>",
        title = esc(&run.dir.display().to_string()),
        arch = run.model_config.arch,
        latent = run.model_config.latent_dim,
        loss = run.config.loss,
        beta = run.config.beta,
    );

    if let Ok(text) = std::fs::read_to_string(run.path(EVAL_FILE))
        && let Ok(eval) = serde_json::from_str::<EvalReport>(&text)
    {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let (iw_name, iw) = if eval.is_grey_bce() {
            (format!("IW BCE (K={})", eval.iw_samples), eval.iw_bce)
        } else {
            (format!("NLL (IWAE, K={})", eval.iw_samples), eval.nll_iw)
        };
        let _ = write!(
            h,
            "<h2>Evaluation ({} test images)</h2><table><tr><th>{}</th><th>recon</th><th>KL</th>\
             <th>{iw_name}</th><th>active units</th></tr><tr><td>{}</td><td>{:.2}</td>\
             <td>{:.2}</td><td>{}</td><td>{} / {}</td></tr></table>",
            eval.images,
            eval.elbo_name(),
            opt(eval.elbo_or_formula()),
            eval.recon,
            eval.kl,
            opt(iw),
            eval.active_units,
            run.model_config.latent_dim
        );
        if eval.is_grey_bce() {
            let _ = write!(
                h,
                "<p><b>Not likelihoods:</b> {}.</p>",
                esc(vae::eval::GREY_CAVEAT)
            );
        }
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
        // Every computed metric of the evaluation, in the registry's order.
        for (metric, value) in eval.computed() {
            match metric.section(value, &run.config) {
                Ok(section) => h.push_str(&section_html(&section)),
                Err(e) => {
                    let _ = write!(h, "<p>{}</p>", esc(&e.to_string()));
                }
            }
        }
    }

    if let Some(c) = run.conditioning() {
        class_picker(&mut h, run, c);
    }
    let conditional = run.conditioning().is_some();
    let samples_caption = match (conditional, run.model_config.prior) {
        (true, _) => {
            "Samples: z drawn from N(0, I) and decoded with each class in turn, one row per class, the same z down each column: z holds the style, the condition the class."
        }
        (false, Prior::Standard) => "Samples: z drawn from N(0, I) and decoded.",
        (false, Prior::Vamp) => {
            "Samples: z drawn from the VampPrior (a random pseudo-input's posterior for each) and decoded."
        }
    };
    let figures = [
        (SAMPLES_PNG, samples_caption),
        (
            SAME_Z_EVERY_CLASS_PNG,
            "Same z, every class: each row is a test image (left), then its z_mean decoded with every class in turn.",
        ),
        (
            INTERPOLATE_CLASS_PNG,
            "The class alone moves: the first image's z_mean held, the condition going linearly from its class to the second image's.",
        ),
        (
            TWO_STAGE_SAMPLES_PNG,
            "Two-stage samples (Dai & Wipf 2019): u drawn from N(0, I), mapped to z by the second-stage VAE fitted to the codes of the training images, then decoded; same seed as above.",
        ),
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
            if conditional {
                "The test set in latent space, coloured by class. The decoder is told the class, so z need not carry it: the classes overlap instead of forming the clusters of an unconditional VAE."
            } else {
                "The test set in latent space, coloured by class."
            },
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
            "Loss per epoch. Train: mean over the epoch's steps, each weighing the KL with the beta in force then (rising from 0 during KL warm-up: the table's train beta); test: after the epoch, with the run's beta.",
        ),
    ];
    if vae::two_stage::is_stale(run)? {
        let _ = write!(
            h,
            "<p><b>The second stage ({}) was fitted on earlier weights of this run</b>, so its samples are not shown; <code>vae two-stage {}</code> fits it again.</p>",
            vae::two_stage::WEIGHTS_FILE,
            esc(&run.dir.display().to_string())
        );
    }
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
        let valid = metrics.iter().any(|m| m.valid.is_some());
        let best = vae::train::EpochMetrics::best_epoch(&metrics);
        h.push_str("<h2>Metrics per epoch (per image)</h2><table><tr><th>epoch</th><th>train total</th><th>train recon</th><th>train KL</th><th>train beta</th><th>test total</th><th>test recon</th><th>test KL</th><th>test beta</th>");
        if valid {
            h.push_str("<th>validation -ELBO</th>");
        }
        h.push_str("<th>seconds</th><th>images/s</th></tr>");
        let beta = |b: Option<f64>| b.map_or("n/a".to_string(), |b| format!("{b:.3}"));
        for m in &metrics {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td>",
                m.epoch,
                m.train.total,
                m.train.recon,
                m.train.kl,
                beta(m.train_beta),
                m.test.total,
                m.test.recon,
                m.test.kl,
                beta(m.test_beta),
            );
            if valid {
                let mark = if best == Some(m.epoch) { " (best)" } else { "" };
                let v = m
                    .valid
                    .map_or("n/a".to_string(), |v| format!("{:.2}", v.total));
                let _ = write!(h, "<td>{v}{mark}</td>");
            }
            let _ = write!(
                h,
                "<td>{:.1}</td><td>{:.0}</td></tr>",
                m.seconds, m.images_per_second
            );
        }
        h.push_str("</table>");
        if valid {
            h.push_str("<p>The run's weights are those of the epoch marked best: the lowest validation -ELBO (beta 1).</p>");
        }
    }
    let _ = write!(
        h,
        "<h2>Config</h2><pre>{}</pre></body></html>",
        esc(&run.config.to_toml()?)
    );
    let path = run.path("report.html");
    vae::fsutil::write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

/// A metric's section as HTML: its heading, tables and notes.
fn section_html(section: &vae::eval::metric::Section) -> String {
    let mut h = String::new();
    if let Some(title) = &section.title {
        let _ = write!(h, "<h2>{}</h2>", esc(title));
    }
    for table in &section.tables {
        h.push_str("<table><tr>");
        for cell in &table.head {
            let _ = write!(h, "<th>{}</th>", esc(cell));
        }
        h.push_str("</tr>");
        for row in &table.rows {
            h.push_str("<tr>");
            for cell in row {
                let _ = write!(h, "<td>{}</td>", esc(cell));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    for note in &section.notes {
        let _ = write!(h, "<p>{}</p>", esc(note));
    }
    h
}

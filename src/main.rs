//! The `vae` command line: a thin layer over the library.

/// Burn allocates a fresh buffer for every tensor op; glibc hands large ones back to the kernel
/// each time (mmap, page faults, zeroing), mimalloc keeps them for reuse (see `main`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vae::arithmetic::{self, ArithmeticOptions, MorphEnd};
use vae::bench::{self, BenchModel, BenchOptions};
use vae::data::folder::Color;
use vae::data::{self, Binarize, DataSpec, DatasetKind};
use vae::model::Arch;
use vae::model::loss::Reconstruction;
use vae::run::{OnNan, Run, TrainConfig};
use vae::serve::loadtest::LoadTestOptions;
use vae::serve::{self, ServeOptions};
use vae::{Error, Result, eval, train, viz};

#[derive(Parser)]
#[command(
    name = "vae",
    version,
    about = "Train, evaluate and visualise VAEs, beta-VAEs and plain autoencoders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model into a run folder (config, weights, checkpoint, metrics, pictures, report).
    Train(Box<TrainArgs>),
    /// Test ELBO, importance-weighted NLL, active units and KL per dimension.
    Eval {
        run: PathBuf,
        /// Importance samples per image for the NLL bound (0 skips it).
        #[arg(long, default_value_t = 1000)]
        iw_samples: usize,
        /// Evaluate the first N test images only.
        #[arg(long)]
        limit: Option<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        device: Option<String>,
        #[command(flatten)]
        metrics: MetricArgs,
    },
    /// Decode z ~ N(0, I) into a grid of new images.
    Sample {
        run: PathBuf,
        #[arg(long, default_value_t = 64)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Test images above, their reconstructions (from z_mean) below.
    Reconstruct {
        run: PathBuf,
        #[arg(long, default_value_t = 20)]
        n: usize,
    },
    /// Linear and spherical interpolation strips between pairs of test images.
    Interpolate {
        run: PathBuf,
        #[arg(long, default_value_t = 5)]
        pairs: usize,
        #[arg(long, default_value_t = 10)]
        steps: usize,
    },
    /// Write z_mean, z_log_var and label of each test image to CSV.
    Encode {
        run: PathBuf,
        /// Output CSV (default: RUN/latents.csv).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Decode a CSV of z vectors (one per line) into an image grid.
    Decode {
        run: PathBuf,
        /// CSV with latent_dim numbers per line (or the output of `vae encode`).
        input: PathBuf,
        /// Output PNG (default: RUN/decoded.png).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train one run per beta (one after another, resumable), evaluate and draw each, and write
    /// a sweep report: rate-distortion curve, metrics table, samples and traversals per beta.
    Sweep(Box<SweepArgs>),
    /// (Re)draw every picture of a run and its report.html.
    Report { run: PathBuf },
    /// Add or remove an attribute: test images decoded at z_mean + s * (attribute vector).
    ///
    /// The vector is the mean z_mean of the test images with the attribute minus the mean of
    /// those without; attributes are class names, or the columns of --attributes for a folder
    /// data set. One row per image: the image, then one column per strength.
    Arithmetic {
        run: PathBuf,
        /// Attribute (a column of --attributes, or a class name such as Coat).
        #[arg(long)]
        attr: String,
        /// Multiples of the attribute vector, e.g. -3,-1.5,0,1.5,3.
        #[arg(
            long,
            value_delimiter = ',',
            allow_hyphen_values = true,
            default_value = "-3,-1.5,0,1.5,3"
        )]
        strengths: Vec<f32>,
        /// CelebA list_attr_celeba.txt or a CSV (file,attr1,...) naming the folder's images.
        #[arg(long)]
        attributes: Option<PathBuf>,
        /// Test images to edit (default: the first --rows without the attribute).
        #[arg(long, value_delimiter = ',')]
        images: Option<Vec<usize>>,
        #[arg(long, default_value_t = 8)]
        rows: usize,
        /// Output PNG (default: RUN/arithmetic-ATTR.png).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Morph one image into another: decode the line between their z_mean.
    Morph {
        run: PathBuf,
        /// A test image number or an image file.
        #[arg(long)]
        from: MorphEnd,
        /// A test image number or an image file.
        #[arg(long)]
        to: MorphEnd,
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Output PNG (default: RUN/morph.png).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a run's weights as safetensors (PyTorch names and layouts, shape in metadata).
    Export {
        run: PathBuf,
        /// Output file (default: RUN/model.safetensors).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make a run folder from a safetensors file of `vae export`, or (--pytorch) from the state
    /// dict of the pytorch/examples VAE.
    Import(Box<ImportArgs>),
    /// Inspect or download data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Training images/s, peak memory, test loss and decode latency of the benchmark models
    /// (the same measurements as bench/reference/vae_bench.py makes of PyTorch).
    Bench {
        #[arg(long, value_enum, default_value = "mlp")]
        model: BenchModel,
        /// Timed epochs (the median is reported).
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Untimed optimiser steps first.
        #[arg(long, default_value_t = 20)]
        warmup_steps: usize,
        /// Train on the first N training images only.
        #[arg(long)]
        limit: Option<usize>,
        /// CPU threads (default: all cores; also RAYON_NUM_THREADS).
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The latent-space explorer: a web page over one or more runs (latent map, sliders,
    /// interpolation, samples side by side, PNG upload) and its JSON API.
    Serve {
        /// Run folders; the page switches between them.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Address to listen on; 127.0.0.1 keeps the explorer on this machine.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Test images encoded for the map.
        #[arg(long, default_value_t = 10_000)]
        map_limit: usize,
        #[arg(long)]
        device: Option<String>,
    },
    /// Serve a run on a free loopback port and decode from many clients at once: errors,
    /// requests/s and latency percentiles.
    Loadtest {
        run: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        device: Option<String>,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Show where the data was found, counts, shapes and pixel statistics.
    Info(DataArgs),
    /// Images/s of the training-data loader alone (decoding, cache), nothing else running.
    Bench {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Batches read (default: one pass over the training split).
        #[arg(long)]
        batches: Option<usize>,
        /// Passes over the same batches (the second shows the cache at work).
        #[arg(long, default_value_t = 1)]
        passes: usize,
    },
    /// Download the official files (checksums verified) into the cache folder or --dest.
    Fetch {
        #[arg(value_enum)]
        dataset: DatasetKind,
        #[arg(long)]
        dest: Option<PathBuf>,
    },
}

/// Which data set, for the `data` commands.
#[derive(Args)]
struct DataArgs {
    #[arg(long, value_enum, default_value = "fashion-mnist")]
    dataset: DatasetKind,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder data sets: side of the square images.
    #[arg(long, default_value_t = 64)]
    image_size: usize,
    #[arg(long, value_enum, default_value = "rgb")]
    color: Color,
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    #[arg(long, default_value_t = 1024)]
    cache_mb: usize,
}

impl DataArgs {
    fn spec(&self) -> DataSpec {
        DataSpec {
            kind: self.dataset,
            data: self.data.clone(),
            image_size: self.image_size,
            color: self.color,
            split_seed: self.split_seed,
            cache_mb: self.cache_mb,
        }
    }
}

#[derive(Args)]
struct ImportArgs {
    /// A .safetensors file from `vae export`, or with --pytorch a .pt state dict.
    file: PathBuf,
    /// New run folder.
    #[arg(long)]
    out: PathBuf,
    /// FILE is the state dict of the pytorch/examples VAE (fc1, fc21, fc22, fc3, fc4).
    #[arg(long)]
    pytorch: bool,
    /// Data and loss settings of the new run (a safetensors file from `vae export` brings its
    /// own; flags override them).
    #[command(flatten)]
    settings: Settings,
}

/// Sizes of the disentanglement metrics (runs on shapes or dsprites only).
#[derive(Args, Clone, Copy)]
struct MetricArgs {
    /// Observations for MIG.
    #[arg(long, default_value_t = 10_000)]
    mig_points: usize,
    /// Training points of the beta-VAE and FactorVAE classifiers (64 observations each).
    #[arg(long, default_value_t = 1_000)]
    metric_train_points: usize,
    /// Held-out points the beta-VAE and FactorVAE scores are measured on.
    #[arg(long, default_value_t = 500)]
    metric_eval_points: usize,
}

impl MetricArgs {
    fn options(self) -> eval::disentanglement::MetricOptions {
        eval::disentanglement::MetricOptions {
            mig_points: self.mig_points,
            train_points: self.metric_train_points,
            eval_points: self.metric_eval_points,
            ..Default::default()
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Run folder (default: runs/<dataset>-<arch>-<vae|ae>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Skip the pictures and report after training.
    #[arg(long)]
    no_pictures: bool,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Args)]
struct SweepArgs {
    /// Betas to train, e.g. 0.5,1,2,4,8.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_negative_numbers = true
    )]
    betas: Vec<f64>,
    /// Sweep folder: one run folder per beta (beta-B) and the sweep report.
    #[arg(long)]
    out: PathBuf,
    /// Importance samples per image for each run's NLL bound (0 skips it).
    #[arg(long, default_value_t = 100)]
    iw_samples: usize,
    #[command(flatten)]
    metrics: MetricArgs,
    #[command(flatten)]
    settings: Settings,
}

/// The settings of a training run, shared by `train` and `sweep`.
#[derive(Args)]
struct Settings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// shapes and dsprites have known factors (disentanglement metrics); dsprites needs --data.
    #[arg(long, value_enum)]
    dataset: Option<DatasetKind>,
    /// Folder with the four IDX files, the dSprites .npz file, the CIFAR-10 batches, or your
    /// images (--dataset folder).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder data sets: images are centre-cropped and resized to this side (default 64).
    #[arg(long)]
    image_size: Option<usize>,
    /// Folder and CIFAR-10 data sets: rgb (default) or grey.
    #[arg(long, value_enum)]
    color: Option<Color>,
    /// Folder data sets: seed of the held-out split (default 0).
    #[arg(long)]
    split_seed: Option<u64>,
    /// Folder data sets: MiB of decoded training images cached in memory (default 1024).
    #[arg(long)]
    cache_mb: Option<usize>,
    #[arg(long, value_enum)]
    arch: Option<Arch>,
    #[arg(long)]
    latent_dim: Option<usize>,
    /// MLP hidden sizes, e.g. 400 or 512,256.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Conv channels, e.g. 32,64,128.
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<usize>>,
    /// Plain autoencoder: deterministic z, no KL.
    #[arg(long)]
    autoencoder: bool,
    #[arg(long, value_enum)]
    loss: Option<Reconstruction>,
    #[arg(long, value_enum)]
    binarize: Option<Binarize>,
    #[arg(long, allow_negative_numbers = true)]
    beta: Option<f64>,
    #[arg(long)]
    kl_warmup_epochs: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Use the first N training images (for shapes and dsprites, whose training split is in a
    /// fixed shuffled order: a random N).
    #[arg(long)]
    limit: Option<usize>,
    /// cpu (default), cuda, cuda:N, wgpu.
    #[arg(long)]
    device: Option<String>,
    /// Clip the joint gradient norm to this value.
    #[arg(long)]
    grad_clip: Option<f64>,
    /// On a NaN/Inf loss or gradient: stop, or roll back to the last checkpoint with lr / 10.
    #[arg(long, value_enum)]
    on_nan: Option<OnNan>,
}

impl Settings {
    /// Defaults, then the `--config` file (or, when resuming, the run's own config), then flags.
    fn config(&self, resume_from: Option<&Path>) -> Result<TrainConfig> {
        let saved = resume_from
            .map(|dir| dir.join(vae::run::CONFIG_FILE))
            .filter(|p| p.is_file());
        let base = match saved {
            Some(path) => TrainConfig::from_file(&path)?,
            None => TrainConfig::default(),
        };
        self.config_over(base)
    }

    /// The `--config` file if given, else `base`, with the flags applied.
    fn config_over(&self, base: TrainConfig) -> Result<TrainConfig> {
        let mut c = match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => base,
        };
        macro_rules! set {
            ($($field:ident),*) => {$(if let Some(v) = &self.$field { c.$field = v.clone(); })*};
        }
        set!(
            dataset,
            image_size,
            color,
            split_seed,
            cache_mb,
            arch,
            hidden,
            binarize,
            beta,
            kl_warmup_epochs,
            epochs,
            seed,
            device,
            on_nan
        );
        macro_rules! set_opt {
            ($($field:ident),*) => {$(if self.$field.is_some() { c.$field = self.$field.clone(); })*};
        }
        set_opt!(data, latent_dim, lr, batch_size, limit, grad_clip);
        if let Some(v) = &self.channels {
            c.channels = Some(v.clone());
        }
        if let Some(v) = self.loss {
            c.loss = Some(v);
        }
        c.autoencoder |= self.autoencoder;
        Ok(c)
    }
}

/// `mi_option_purge_delay` in mimalloc.h (v2); the Rust bindings leave this option out.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never return freed pages to the OS: every training step allocates the same sizes again,
    // and faulting them back in was 5% of a conv step.
    // SAFETY: sets a process-wide allocator option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(path: &Path) {
    println!("wrote {}", path.display());
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench {
            model,
            epochs,
            warmup_steps,
            limit,
            threads,
            data,
            device,
            seed,
            json,
        } => {
            if let Some(n) = threads {
                vae::device::set_cpu_threads(n)?;
            }
            let report = bench::bench(&BenchOptions {
                model,
                epochs,
                warmup_steps,
                limit,
                data,
                device,
                seed,
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serialises")
                );
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        Command::Serve {
            runs,
            host,
            port,
            map_limit,
            device,
        } => {
            let state = serve::load(&ServeOptions {
                runs,
                host,
                port,
                device,
                map_limit,
            })?;
            serve::serve(state, SocketAddr::new(host, port), |addr| {
                if !addr.ip().is_loopback() {
                    eprintln!(
                        "warning: listening on {addr}: anyone who can reach this machine can use the explorer"
                    );
                }
                println!("vae explorer on http://{addr}/ (Ctrl-C stops it)");
            })
        }
        Command::Loadtest {
            run,
            requests,
            clients,
            json,
            device,
        } => {
            let state = serve::load(&ServeOptions {
                runs: vec![run],
                host: Ipv4Addr::LOCALHOST.into(),
                port: 0,
                device,
                map_limit: 0,
            })?;
            let (name, latent_dim) = {
                let info = &state.explorers[0].info;
                (info.name.clone(), info.latent_dim)
            };
            let server = serve::Server::start(state, (Ipv4Addr::LOCALHOST, 0).into())?;
            let report = serve::loadtest::load_test(
                server.addr(),
                &name,
                latent_dim,
                LoadTestOptions { requests, clients },
            )?;
            server.stop();
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serialises")
                );
            } else {
                print!("{}", report.table());
            }
            if report.errors > 0 {
                return Err(Error::Config(format!(
                    "{} of {} requests failed; first: {}",
                    report.errors,
                    report.requests,
                    report.first_error.unwrap_or_default()
                )));
            }
            Ok(())
        }
        Command::Train(args) => {
            let flags = args.settings.config(None)?;
            let out = args.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(format!(
                    "{}-{}-{}",
                    flags.dataset.name(),
                    flags.arch.name(),
                    if flags.autoencoder { "ae" } else { "vae" }
                ))
            });
            let config = if args.resume {
                args.settings.config(Some(&out))?
            } else {
                flags
            };
            let options = train::TrainOptions {
                resume: args.resume,
                progress: true,
                verbose: true,
            };
            let summary = train::train(&config, &out, options)?;
            if let Some(last) = summary.epochs.last() {
                println!(
                    "trained {} epochs into {}: test loss {:.2} per image",
                    last.epoch,
                    out.display(),
                    last.test_total
                );
            }
            if !args.no_pictures {
                let run = Run::load(&out, None)?;
                for path in viz::write_all(&run)? {
                    say(&path);
                }
            }
            Ok(())
        }
        Command::Eval {
            run,
            iw_samples,
            limit,
            json,
            device,
            metrics,
        } => {
            let run = Run::load(&run, device.as_deref())?;
            let report = eval::evaluate_run(
                &run,
                eval::EvalOptions {
                    iw_samples,
                    limit,
                    metrics: metrics.options(),
                },
            )?;
            let text = serde_json::to_string(&report).expect("report serialises");
            if json {
                println!("{text}");
            } else {
                let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
                println!("test images     {}", report.images);
                println!("ELBO            {} nats/image", opt(report.elbo));
                println!("reconstruction  {:.3}", report.recon);
                println!("KL              {:.3}", report.kl);
                println!("NLL (IWAE K={}) {}", report.iw_samples, opt(report.nll_iw));
                println!("loss at z_mean  {}", opt(report.loss_at_mean));
                println!(
                    "active units    {} of {}",
                    report.active_units, run.model_config.latent_dim
                );
                let kl: Vec<String> = report
                    .kl_per_dim
                    .iter()
                    .map(|k| format!("{k:.2}"))
                    .collect();
                println!("KL per dim      [{}]", kl.join(", "));
                if let Some(d) = &report.disentanglement {
                    print!("{}", eval::disentanglement::table(d));
                }
            }
            Ok(())
        }
        Command::Sample { run, n, seed } => {
            check_count(n, "--n")?;
            say(&viz::samples(&Run::load(&run, None)?, n, seed)?);
            Ok(())
        }
        Command::Reconstruct { run, n } => {
            check_count(n, "--n")?;
            let run = Run::load(&run, None)?;
            say(&viz::reconstructions(&run, &run.test_data()?, n)?);
            Ok(())
        }
        Command::Interpolate { run, pairs, steps } => {
            check_count(pairs, "--pairs")?;
            if steps < 2 {
                return Err(Error::Config("--steps must be at least 2".into()));
            }
            let run = Run::load(&run, None)?;
            for path in viz::interpolations(&run, &run.test_data()?, pairs, steps)? {
                say(&path);
            }
            Ok(())
        }
        Command::Encode { run, out, limit } => {
            let run = Run::load(&run, None)?;
            let mut test = run.test_data()?;
            if let Some(n) = limit {
                test.truncate(n);
            }
            let (z_mean, z_log_var) = viz::encode_dataset(&run, &test)?;
            let csv = vae::latents::to_csv(
                &test.labels,
                &z_mean,
                z_log_var.as_deref(),
                run.model_config.latent_dim,
            );
            let out = out.unwrap_or_else(|| run.path("latents.csv"));
            vae::fsutil::write_atomic(&out, csv.as_bytes())?;
            say(&out);
            Ok(())
        }
        Command::Decode { run, input, out } => {
            let run = Run::load(&run, None)?;
            let latent = run.model_config.latent_dim;
            let z = vae::latents::read_z_csv(&input, latent)?;
            let n = z.len() / latent;
            let images = viz::decode_to_images(&run, z, n)?;
            let out = out.unwrap_or_else(|| run.path("decoded.png"));
            viz::grid::save_grid(&out, &images, viz::layout(&run, n.min(10)))?;
            say(&out);
            Ok(())
        }
        Command::Sweep(args) => {
            if args.settings.beta.is_some() {
                return Err(Error::Config(
                    "a sweep takes its betas from --betas; drop --beta".into(),
                ));
            }
            let options = vae::sweep::SweepOptions {
                betas: args.betas.clone(),
                out: args.out.clone(),
                base: args.settings.config(None)?,
                eval: eval::EvalOptions {
                    iw_samples: args.iw_samples,
                    limit: None,
                    metrics: args.metrics.options(),
                },
                verbose: true,
            };
            let report = vae::sweep::sweep(&options)?;
            print!("{}", vae::sweep::table(&report));
            say(&args.out.join("report.html"));
            Ok(())
        }
        Command::Data(DataCommand::Bench {
            data,
            batch_size,
            batches,
            passes,
        }) => {
            check_count(batch_size, "--batch-size")?;
            check_count(passes, "--passes")?;
            let splits = data::load_splits(&data.spec())?;
            let train = &splits.train;
            let batches = batches.unwrap_or(train.len().div_ceil(batch_size));
            check_count(batches, "--batches")?;
            for pass in 1..=passes {
                let r = data::loader_throughput(train, batch_size, batches, 0)?;
                println!(
                    "pass {pass}: {} images in {:.2} s: {:.0} images/s",
                    r.images, r.seconds, r.images_per_second
                );
            }
            Ok(())
        }
        Command::Arithmetic {
            run,
            attr,
            strengths,
            attributes,
            images,
            rows,
            out,
        } => {
            check_count(rows, "--rows")?;
            let run = Run::load(&run, None)?;
            let table = attributes
                .as_deref()
                .map(data::attributes::read)
                .transpose()?;
            let report = arithmetic::arithmetic(
                &run,
                &ArithmeticOptions {
                    attr,
                    strengths,
                    images,
                    rows,
                    table,
                    out,
                },
            )?;
            let v = &report.vector;
            let norm = v.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            println!(
                "attribute {}: {} test images with it, {} without; |vector| = {norm:.3}",
                v.name, v.with, v.without
            );
            say(&report.path);
            Ok(())
        }
        Command::Morph {
            run,
            from,
            to,
            steps,
            out,
        } => {
            let run = Run::load(&run, None)?;
            say(&arithmetic::morph(&run, &from, &to, steps, out.as_deref())?);
            Ok(())
        }
        Command::Export { run, out } => {
            let run = Run::load(&run, None)?;
            let out = out.unwrap_or_else(|| run.path("model.safetensors"));
            vae::interop::export_safetensors(
                &run.model,
                &run.model_config,
                Some(&run.config),
                &out,
            )?;
            say(&out);
            Ok(())
        }
        Command::Import(args) => {
            let device = vae::device::parse_device("cpu")?;
            let imported = if args.pytorch {
                vae::interop::import_pytorch_examples(&args.file, &device)?
            } else {
                vae::interop::import_safetensors(&args.file, &device)?
            };
            let base = imported.train_config.clone().unwrap_or_default();
            let config = args.settings.config_over(base)?;
            vae::interop::write_run(&args.out, &imported, &config)?;
            println!(
                "imported {} into {}",
                args.file.display(),
                args.out.display()
            );
            Ok(())
        }
        Command::Report { run } => {
            for path in viz::write_all(&Run::load(&run, None)?)? {
                say(&path);
            }
            Ok(())
        }
        Command::Data(DataCommand::Info(args)) => {
            let spec = args.spec();
            let splits = data::load_splits(&spec)?;
            println!(
                "{} from {}",
                spec.kind.name(),
                data::describe_source(&spec)?
            );
            for (name, set) in [("train", &splits.train), ("test", &splits.test)] {
                let (mean, std) = data::pixel_stats(set)?;
                let mut counts = vec![0usize; set.class_names.len()];
                for &l in &set.labels {
                    counts[l as usize] += 1;
                }
                println!(
                    "{name:5}  {} images of {}x{}x{}, {} classes, pixel mean {mean:.4}, std {std:.4}",
                    set.len(),
                    set.height,
                    set.width,
                    set.channels,
                    set.class_names.len()
                );
                let per_class: Vec<String> = set
                    .class_names
                    .iter()
                    .zip(&counts)
                    .map(|(n, c)| format!("{n}: {c}"))
                    .collect();
                println!("       {}", per_class.join(", "));
            }
            Ok(())
        }
        Command::Data(DataCommand::Fetch { dataset, dest }) => {
            let (base, files) = data::fetch::official(dataset)?;
            let base =
                std::env::var(data::fetch::FETCH_URL_ENV).unwrap_or_else(|_| base.to_string());
            let dest = match dest.or_else(|| data::locate::cache_dir(dataset)) {
                Some(d) => d,
                None => {
                    return Err(Error::Config(
                        "no user cache folder on this system; pass --dest DIR".into(),
                    ));
                }
            };
            for path in data::fetch::fetch(&base, &files, &dest)? {
                println!("verified {}", path.display());
            }
            println!(
                "use it with --data {} (it is also found automatically)",
                dest.display()
            );
            Ok(())
        }
    }
}

fn check_count(n: usize, flag: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::Config(format!("{flag} must be at least 1")));
    }
    Ok(())
}

//! `vae arithmetic`: add or remove an attribute in latent space.

use super::say;
use crate::flags::check_count;
use std::path::PathBuf;
use vae::Run;
use vae::arithmetic::ArithmeticOptions;
use vae::data::attributes;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.rows, "--rows")?;
    let run = Run::load(&args.run, None)?;
    let table = args
        .attributes
        .as_deref()
        .map(attributes::read)
        .transpose()?;
    let options = ArithmeticOptions {
        attr: args.attr,
        strengths: args.strengths,
        images: args.images,
        rows: args.rows,
        table,
    };
    let (result, path) = vae_viz::arithmetic(&run, &options, args.out.as_deref())?;
    crate::output::line(format_args!("{}", result.vector))?;
    say(&path)?;
    Ok(())
}

//! What training over MPI ranks adds ([`World`]): one set of settings on every rank, a batch
//! that every rank has rows of, and a line saying how the work is split.

use super::gradients;
use crate::config::TrainConfig;
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::model::Vae;

/// Rank 0's settings, on every rank: they are the run's. On `--resume` they come from the run
/// folder's `config.toml`, which only rank 0's machine holds (a learning rate lowered by a
/// rollback included); the other ranks' own flags fell back to the defaults.
pub(super) fn rank_0_settings(config: &TrainConfig, world: &World) -> Result<TrainConfig> {
    if world.size == 1 {
        return Ok(config.clone());
    }
    // Rank 0's own settings may be refused (a path TOML cannot hold): it then sends nothing,
    // and says why while the others stop with it.
    let own = world
        .is_root()
        .then(|| config.validate().and_then(|()| config.to_toml()));
    let sent = own.as_ref().map(|text| {
        text.as_ref()
            .map_or_else(|_| Vec::new(), |t| t.clone().into_bytes())
    });
    let text = world.broadcast(sent);
    world.agree(match own {
        Some(Err(e)) => Err(e),
        Some(Ok(_)) | None => std::str::from_utf8(&text)
            .ok()
            .and_then(|text| toml::from_str(text).ok())
            .ok_or_else(|| Error::Config("rank 0's settings did not reach this rank".into())),
    })
}

/// Every rank needs at least one image of every batch, the last one included: a rank without
/// rows would have no batch-norm statistics to bring to the others.
pub(super) fn check_ranks(config: &TrainConfig, images: usize, world: &World) -> Result<()> {
    let batch = config.batch_size.min(images);
    let last = match images % batch {
        0 => batch,
        r => r,
    };
    if batch.min(last) < world.size {
        return Err(Error::Config(format!(
            "{} ranks need at least {} images in every batch, but the {} have {} (batch size {batch}, {images} images); use fewer ranks, a larger --batch-size, or a --limit that leaves a fuller last batch",
            world.size,
            world.size,
            if last < batch {
                "last batch"
            } else {
                "batches"
            },
            batch.min(last),
        )));
    }
    Ok(())
}

/// The line rank 0 prints at the start of a run on several ranks.
pub(super) fn split_message(world: &World, config: &TrainConfig, model: &Vae) -> String {
    format!(
        "training on {} MPI ranks: each batch of {} split between them, {:.2} MB of gradients summed per step",
        world.size,
        config.batch_size,
        (gradients::Layout::of(model).len() + 3) as f64 * 4.0 / 1e6
    )
}

//! A batch cut into blocks of a few images, which a convolution's window pass and product work
//! through together so that the block's windows stay in the cache ([`super::window_product`]).

use super::product::Split;
use super::windows::{Grid, Windows};

/// Rows of a block's product: enough that gemm's copy of the weights into panels, made once
/// per block, stays small against the block's multiply-adds, and few enough that the block's
/// windows (a few hundred KB to 2 MB) stay in the caches.
const BLOCK_ROWS: usize = 512;

/// A block of images: its place among the blocks, its first image, its images, and their
/// windows.
pub struct Block {
    pub index: usize,
    pub first: usize,
    pub images: usize,
    pub windows: Windows,
}

/// The most images in a block when an image has `rows` rows in the block's product.
pub fn images_per_block(rows: usize, batch: usize) -> usize {
    BLOCK_ROWS.div_ceil(rows.max(1)).clamp(1, batch.max(1))
}

/// A layer's products split across the pool only where it runs several blocks back to back
/// ([`Split::Never`] says why).
pub fn split(per_block: usize, batch: usize) -> Split {
    if per_block < batch {
        Split::BySize
    } else {
        Split::Never
    }
}

/// The batch of `windows` in blocks of `per_block` images (the last may have fewer).
pub fn blocks(windows: Windows, per_block: usize) -> impl Iterator<Item = Block> {
    let batch = windows.input.batch;
    (0..batch)
        .step_by(per_block)
        .enumerate()
        .map(move |(index, first)| {
            let images = per_block.min(batch - first);
            let with_batch = |grid: Grid| Grid {
                batch: images,
                ..grid
            };
            Block {
                index,
                first,
                images,
                windows: Windows {
                    input: with_batch(windows.input),
                    output: with_batch(windows.output),
                    window: windows.window,
                },
            }
        })
}

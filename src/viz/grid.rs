//! Image grids as PNG: many small grey images tiled on a light grey background (so that the
//! edges of images drawn on white show), scaled up so that a 28x28 image is visible on a screen.

use crate::error::{Error, Result};
use image::{GrayImage, ImageEncoder, Luma};
use std::path::Path;

/// Layout of a grid.
#[derive(Debug, Clone, Copy)]
pub struct GridLayout {
    pub height: usize,
    pub width: usize,
    pub cols: usize,
    /// Integer up-scaling factor.
    pub scale: usize,
    /// Pixels of light grey between cells (after scaling).
    pub gap: usize,
}

impl GridLayout {
    pub fn new(height: usize, width: usize, cols: usize) -> Self {
        GridLayout {
            height,
            width,
            cols: cols.max(1),
            scale: if height.max(width) <= 32 { 3 } else { 2 },
            gap: 2,
        }
    }
}

/// Tiles `images` (each `height * width` values in [0, 1], concatenated) row by row.
pub fn grid(images: &[f32], layout: GridLayout) -> GrayImage {
    let GridLayout {
        height,
        width,
        cols,
        scale,
        gap,
    } = layout;
    let pixels = height * width;
    let count = images.len() / pixels.max(1);
    let rows = count.div_ceil(cols).max(1);
    let cell_w = width * scale + gap;
    let cell_h = height * scale + gap;
    let mut img = GrayImage::from_pixel(
        (cols * cell_w + gap) as u32,
        (rows * cell_h + gap) as u32,
        Luma([200]),
    );
    for (i, image) in images.chunks_exact(pixels).enumerate() {
        let (r, c) = (i / cols, i % cols);
        for y in 0..height * scale {
            for x in 0..width * scale {
                let v = image[(y / scale) * width + x / scale].clamp(0.0, 1.0);
                // Clothes are drawn dark on white, as in the lecture's figures.
                let grey = (255.0 * (1.0 - v)).round() as u8;
                img.put_pixel(
                    (gap + c * cell_w + x) as u32,
                    (gap + r * cell_h + y) as u32,
                    Luma([grey]),
                );
            }
        }
    }
    img
}

/// Encodes a grey image as PNG bytes.
pub fn png_bytes_gray(img: &GrayImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| Error::Config(format!("cannot encode PNG: {e}")))?;
    Ok(out)
}

/// Encodes an RGB buffer as PNG bytes.
pub fn png_bytes_rgb(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Config(format!("cannot encode PNG: {e}")))?;
    Ok(out)
}

/// Writes a grid of images to `path` atomically.
pub fn save_grid(path: &Path, images: &[f32], layout: GridLayout) -> Result<()> {
    crate::fsutil::write_atomic(path, &png_bytes_gray(&grid(images, layout))?)
}

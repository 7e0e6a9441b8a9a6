//! Image grids as PNG: many small images tiled on a light grey background (so that the edges of
//! images drawn on white show), scaled up so that a 28x28 image is visible on a screen.

use image::{ImageEncoder, Rgb, RgbImage};
use std::path::Path;
use vae::{Error, Result};

/// Layout of a grid.
#[derive(Debug, Clone, Copy)]
pub struct GridLayout {
    pub height: usize,
    pub width: usize,
    /// Colour channels of each image (1 or 3), channel-planar.
    pub channels: usize,
    /// Draw grey images inverted (light objects on black become dark on white).
    pub invert: bool,
    pub cols: usize,
    /// Integer up-scaling factor.
    pub scale: usize,
    /// Pixels of light grey between cells (after scaling).
    pub gap: usize,
}

impl GridLayout {
    /// Grey images drawn inverted, as the lecture draws clothes.
    pub fn new(height: usize, width: usize, cols: usize) -> Self {
        GridLayout {
            height,
            width,
            channels: 1,
            invert: true,
            cols: cols.max(1),
            scale: if height.max(width) <= 32 { 3 } else { 2 },
            gap: 2,
        }
    }
}

/// Tiles `images` (each `channels * height * width` values in [0, 1], concatenated) row by row.
pub fn grid(images: &[f32], layout: GridLayout) -> RgbImage {
    let GridLayout {
        height,
        width,
        channels,
        invert,
        cols,
        scale,
        gap,
    } = layout;
    let plane = height * width;
    let values = plane * channels;
    let count = images.len() / values.max(1);
    let rows = count.div_ceil(cols).max(1);
    let cell_w = width * scale + gap;
    let cell_h = height * scale + gap;
    let mut img = RgbImage::from_pixel(
        (cols * cell_w + gap) as u32,
        (rows * cell_h + gap) as u32,
        Rgb([200, 200, 200]),
    );
    let byte = |v: f32| (255.0 * v.clamp(0.0, 1.0)).round() as u8;
    for (i, image) in images.chunks_exact(values).enumerate() {
        let (r, c) = (i / cols, i % cols);
        for y in 0..height * scale {
            for x in 0..width * scale {
                let p = (y / scale) * width + x / scale;
                let rgb = if channels == 3 {
                    [
                        byte(image[p]),
                        byte(image[plane + p]),
                        byte(image[2 * plane + p]),
                    ]
                } else {
                    let v = if invert { 1.0 - image[p] } else { image[p] };
                    [byte(v); 3]
                };
                img.put_pixel(
                    (gap + c * cell_w + x) as u32,
                    (gap + r * cell_h + y) as u32,
                    Rgb(rgb),
                );
            }
        }
    }
    img
}

/// Encodes an RGB buffer as PNG bytes.
pub fn png_bytes_rgb(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    png_bytes_of(rgb, width, height, image::ExtendedColorType::Rgb8)
}

/// Encodes a grid as PNG bytes of one grey channel when it is grey (a third of the RGB size).
pub fn png_bytes_grey(img: &RgbImage) -> Result<Vec<u8>> {
    let grey: Vec<u8> = img.pixels().map(|p| p[0]).collect();
    png_bytes_of(
        &grey,
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )
}

fn png_bytes_of(
    pixels: &[u8],
    width: u32,
    height: u32,
    color: image::ExtendedColorType,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(pixels, width, height, color)
        .map_err(|e| Error::Config(format!("cannot encode PNG: {e}")))?;
    Ok(out)
}

/// Encodes a grid as PNG bytes.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    png_bytes_rgb(img.as_raw(), img.width(), img.height())
}

/// Writes a grid of images to `path` atomically.
pub fn save_grid(path: &Path, images: &[f32], layout: GridLayout) -> Result<()> {
    vae::fsutil::write_atomic(path, &png_bytes(&grid(images, layout))?)
}

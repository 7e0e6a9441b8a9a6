//! A user's PNG made into a model input: decoded under size limits, flattened onto white,
//! padded to the model's aspect ratio, resized, greyscaled and, when its background is light,
//! inverted, because the training images are light objects on black.

use image::imageops::{FilterType, resize};
use image::{GrayImage, ImageError, ImageFormat, ImageReader, Limits, Luma};
use serde::Deserialize;
use std::io::Cursor;

/// Largest accepted width or height of an uploaded image.
pub const MAX_SIDE: u32 = 4096;
/// Most memory the PNG decoder may allocate.
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Whether to invert the grey levels of an upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Invert {
    /// Invert when the border is lighter than mid-grey (a dark object on a light background).
    #[default]
    Auto,
    Yes,
    No,
}

/// Why an upload cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is not a PNG image; send the bytes of a .png file")]
    NotPng,
    #[error("the image is too large: at most {MAX_SIDE}x{MAX_SIDE} pixels are accepted")]
    TooLarge,
    #[error("the PNG cannot be decoded ({0}); the file is corrupt or truncated")]
    Corrupt(String),
}

/// An upload ready for the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `height * width` values in [0, 1], light object on dark.
    pub pixels: Vec<f32>,
    pub inverted: bool,
}

/// Turns PNG `bytes` into a `height` x `width` model input.
pub fn prepare_png(
    bytes: &[u8],
    height: usize,
    width: usize,
    invert: Invert,
) -> Result<Prepared, UploadError> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(UploadError::NotPng);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => UploadError::TooLarge,
        e => UploadError::Corrupt(e.to_string()),
    })?;
    let luma_alpha = decoded.to_luma_alpha8();
    let (w, h) = luma_alpha.dimensions();
    let flat = GrayImage::from_fn(w, h, |x, y| {
        let [l, a] = luma_alpha.get_pixel(x, y).0;
        let a = a as f32 / 255.0;
        Luma([(l as f32 * a + 255.0 * (1.0 - a)).round() as u8])
    });
    let background = border_mean(&flat);
    let padded = pad_to_aspect(&flat, height, width, background.round() as u8);
    let small = resize(&padded, width as u32, height as u32, FilterType::Triangle);
    let inverted = match invert {
        Invert::Auto => background > 127.5,
        Invert::Yes => true,
        Invert::No => false,
    };
    let pixels = small
        .pixels()
        .map(|p| {
            let v = p.0[0] as f32 / 255.0;
            if inverted { 1.0 - v } else { v }
        })
        .collect();
    Ok(Prepared { pixels, inverted })
}

/// Mean grey level of the outermost pixels: the background's colour.
fn border_mean(img: &GrayImage) -> f32 {
    let (w, h) = img.dimensions();
    let (mut sum, mut count) = (0f64, 0usize);
    for (x, y, p) in img.enumerate_pixels() {
        if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
            sum += p.0[0] as f64;
            count += 1;
        }
    }
    (sum / count.max(1) as f64) as f32
}

/// Centres `img` on a canvas of the target's aspect ratio filled with `fill`, so resizing does
/// not stretch the object.
fn pad_to_aspect(img: &GrayImage, height: usize, width: usize, fill: u8) -> GrayImage {
    let (w, h) = (img.width() as u64, img.height() as u64);
    // Smallest canvas holding the image with width / height = target width / target height.
    let (tw, th) = (width as u64, height as u64);
    let (cw, ch) = if w * th >= h * tw {
        (w, (w * th).div_ceil(tw))
    } else {
        ((h * tw).div_ceil(th), h)
    };
    let mut canvas = GrayImage::from_pixel(cw as u32, ch as u32, Luma([fill]));
    image::imageops::overlay(
        &mut canvas,
        img,
        ((cw - w) / 2) as i64,
        ((ch - h) / 2) as i64,
    );
    canvas
}

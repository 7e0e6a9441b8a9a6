//! Reader and writer for the IDX format of MNIST, Fashion-MNIST, KMNIST and EMNIST.
//!
//! No maintained crate reads IDX with the validation we want (magic, dimensions, exact length,
//! gzip or raw), and the format is twelve lines of spec, so it lives here.

use crate::error::{Error, IoContext, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// IDX type code of unsigned bytes, the only element type the image data sets use.
const UBYTE: u8 = 0x08;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Sizes of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Largest decompressed IDX file we accept (EMNIST's largest is about 0.55 GB); a guard against
/// gzip bombs.
pub const MAX_IDX_BYTES: u64 = 4 << 30;

/// Reads an IDX file, gzip-compressed or raw (detected from the content, not the name).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).ctx(|| format!("cannot read {}", path.display()))?;
    decode_idx(&raw, MAX_IDX_BYTES).map_err(|message| Error::file(path, message))
}

/// Decodes the bytes of an IDX file, gunzipping them first when they are gzip; at most
/// `max_bytes` of decompressed data are accepted.
pub fn decode_idx(raw: &[u8], max_bytes: u64) -> std::result::Result<IdxArray, String> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return parse_idx(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw)
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt or truncated gzip data ({e}); download the file again"))?;
    if out.len() as u64 > max_bytes {
        return Err(format!(
            "decompresses to more than {max_bytes} bytes, larger than any IDX data set"
        ));
    }
    parse_idx(&out)
}

/// Parses IDX bytes; the error says what is wrong, the caller adds the file name.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "not an IDX file: {} bytes, shorter than the 4-byte header",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "not an IDX file: bad magic number {:02x}{:02x}{:02x}{:02x} (expected 0000 08 NN)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != UBYTE {
        return Err(format!(
            "unsupported IDX element type 0x{:02x}; image data sets use unsigned bytes (0x08)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("IDX header declares 0 dimensions".into());
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(format!(
            "truncated IDX header: {ndims} dimensions need {header_len} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("IDX dimensions {dims:?} overflow"))?;
    let payload = &bytes[header_len..];
    if payload.len() < expected {
        return Err(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, file has {}",
            payload.len()
        ));
    }
    if payload.len() > expected {
        return Err(format!(
            "{} unexpected trailing bytes after the {expected} data bytes of dimensions {dims:?}",
            payload.len() - expected
        ));
    }
    Ok(IdxArray {
        dims,
        data: payload.to_vec(),
    })
}

/// Encodes an unsigned-byte IDX array (the inverse of [`parse_idx`]).
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

/// Writes an IDX file atomically, gzip-compressed when `gzip` is set.
pub fn write_idx(path: &Path, array: &IdxArray, gzip: bool) -> Result<()> {
    let raw = encode_idx(array);
    let bytes = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw)
            .and_then(|_| enc.finish())
            .ctx(|| format!("cannot compress {}", path.display()))?
    } else {
        raw
    };
    crate::fsutil::write_atomic(path, &bytes)
}

/// Reads an image file: three dimensions (count, rows, columns).
pub fn read_images(path: &Path) -> Result<IdxArray> {
    let array = read_idx(path)?;
    if array.dims.len() != 3 {
        return Err(Error::file(
            path,
            format!(
                "expected an image file with 3 dimensions (count, rows, columns), found {:?}",
                array.dims
            ),
        ));
    }
    if array.dims[1] == 0 || array.dims[2] == 0 {
        return Err(Error::file(path, "images have zero rows or columns"));
    }
    Ok(array)
}

/// Reads a label file: one dimension (count).
pub fn read_labels(path: &Path) -> Result<IdxArray> {
    let array = read_idx(path)?;
    if array.dims.len() != 1 {
        return Err(Error::file(
            path,
            format!(
                "expected a label file with 1 dimension (count), found {:?}",
                array.dims
            ),
        ));
    }
    Ok(array)
}

//! The IDX file format of MNIST: a 4-byte magic (two zero bytes, a type code, the number
//! of dimensions), one big-endian `u32` per dimension, then the data. Only unsigned bytes
//! (type `0x08`) are read here, which is what MNIST uses.

use flate2::read::GzDecoder;
use kiln_core::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads a whole file, gunzipping it if it starts with the gzip magic.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::data(
                    path,
                    None,
                    format!("gzip stream is corrupt or truncated: {e}"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes; `path` is used in errors, offsets are into the decompressed bytes.
pub fn parse(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::data(
            path,
            Some(bytes.len() as u64),
            "file ends inside the 4-byte IDX magic",
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::data(
            path,
            Some(0),
            format!(
                "not an IDX file: magic starts {:#04x} {:#04x}, expected 0x00 0x00",
                bytes[0], bytes[1]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(Error::data(
            path,
            Some(2),
            format!(
                "IDX element type {:#04x} is not supported (expected 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(Error::data(path, Some(3), "IDX file declares 0 dimensions"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::data(
            path,
            Some(bytes.len() as u64),
            format!("file ends inside the header ({ndim} dimensions need {header} bytes)"),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    for d in 0..ndim {
        let o = 4 + 4 * d;
        dims.push(
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize,
        );
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::data(path, Some(4), format!("dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have != expected {
        let what = if have < expected {
            "truncated"
        } else {
            "has trailing bytes"
        };
        return Err(Error::data(
            path,
            Some(bytes.len() as u64),
            format!(
                "{what}: dimensions {dims:?} need {expected} data bytes after the {header}-byte header, found {have}"
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads and parses an IDX file (gzip or raw).
pub fn read(path: &Path) -> Result<IdxArray> {
    parse(&read_bytes(path)?, path)
}

/// Encodes an array as IDX bytes (used by tests and by tools that write data sets).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_files() {
        let p = Path::new("x.idx");
        let bytes = encode(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let a = parse(&bytes, p).expect("valid");
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data.len(), 12);

        let err = parse(&bytes[..bytes.len() - 1], p)
            .expect_err("truncated")
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("x.idx") && err.contains("offset"),
            "{err}"
        );
        let mut bad = bytes.clone();
        bad[2] = 0x0d;
        assert!(
            parse(&bad, p)
                .expect_err("type")
                .to_string()
                .contains("0x0d")
        );
        bad[0] = 7;
        assert!(
            parse(&bad, p)
                .expect_err("magic")
                .to_string()
                .contains("not an IDX")
        );
        assert!(
            parse(&bytes[..6], p)
                .expect_err("header")
                .to_string()
                .contains("header")
        );
        assert!(parse(&[], p).is_err());
    }
}

//! A minimal PNG encoder: 8-bit RGB, one zlib stream. Written here rather
//! than taken from the `png` crate because that crate turns on default
//! features of `simd-adler32` and `crc32fast`, which the Delta Lake stack's
//! compression (`miniz_oxide`, `flate2`, then parquet and DataFusion) depends
//! on, so adding it rebuilds all of that (measured: docs/DESIGN.md, "Charts:
//! a PNG encoder of our own"). The tests' `png_check` decodes files back.

use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Encodes `rgb` (`width × height × 3` bytes, rows top to bottom) as PNG.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let row = width as usize * 3;
    debug_assert_eq!(rgb.len(), row * height as usize);
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgb.chunks_exact(row) {
        raw.push(0); // filter type None
        raw.extend_from_slice(line);
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(&raw).expect("writing to memory cannot fail");
    let data = zlib.finish().expect("writing to memory cannot fail");

    let mut png = SIGNATURE.to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter set, no interlace
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &data);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_signature_header_data_end() {
        let png = encode_rgb(4, 3, &[7; 4 * 3 * 3]);
        assert_eq!(png[..8], SIGNATURE);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(png[16..20], 4u32.to_be_bytes(), "width");
        assert_eq!(png[20..24], 3u32.to_be_bytes(), "height");
        assert_eq!(png[24..29], [8, 2, 0, 0, 0]);
        assert_eq!(&png[png.len() - 12..], b"\0\0\0\0IEND\xaeB`\x82");
    }
}

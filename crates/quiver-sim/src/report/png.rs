//! A minimal PNG encoder (8-bit RGB, one zlib stream) and a checker that
//! decodes a file back. Written here rather than taken from the `png` crate
//! because that crate switches on a feature of a compression dependency shared
//! with the Delta Lake stack, which would rebuild all of it.

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use std::io::{Read, Write};

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

/// Decodes a PNG far enough to prove it valid: signature, every chunk's CRC,
/// the header, and the image data inflated to exactly the size the header
/// implies with valid row filters. Returns the width and height.
pub fn check(bytes: &[u8]) -> Result<(u32, u32), String> {
    let rest = bytes.strip_prefix(&SIGNATURE).ok_or("no PNG signature")?;
    let mut at = 0;
    let mut header: Option<(u32, u32, u8, u8, u8)> = None;
    let mut data = Vec::new();
    let mut ended = false;
    while at < rest.len() {
        let take = |from: usize, n: usize| rest.get(from..from + n).ok_or("truncated chunk");
        let len = u32::from_be_bytes(take(at, 4)?.try_into().expect("4 bytes")) as usize;
        let kind = take(at + 4, 4)?;
        let body = take(at + 8, len)?;
        let crc = u32::from_be_bytes(take(at + 8 + len, 4)?.try_into().expect("4 bytes"));
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(kind);
        hasher.update(body);
        if hasher.finalize() != crc {
            return Err(format!(
                "bad CRC in chunk {}",
                String::from_utf8_lossy(kind)
            ));
        }
        match kind {
            b"IHDR" => {
                if len != 13 {
                    return Err("IHDR is not 13 bytes".to_string());
                }
                let w = u32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
                let h = u32::from_be_bytes(body[4..8].try_into().expect("4 bytes"));
                header = Some((w, h, body[8], body[9], body[12]));
            }
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
        at += 12 + len;
    }
    let (w, h, depth, color, interlace) = header.ok_or("no IHDR chunk")?;
    if !ended {
        return Err("no IEND chunk".to_string());
    }
    let channels = match color {
        0 => 1,
        2 => 3,
        4 => 2,
        6 => 4,
        _ => {
            return Err(format!(
                "colour type {color} is not supported by this checker"
            ));
        }
    };
    if depth != 8 || interlace != 0 {
        return Err("only 8-bit, non-interlaced images are checked".to_string());
    }
    let mut pixels = Vec::new();
    ZlibDecoder::new(&data[..])
        .read_to_end(&mut pixels)
        .map_err(|e| format!("image data does not inflate: {e}"))?;
    let row = 1 + w as usize * channels;
    if pixels.len() != row * h as usize {
        return Err(format!(
            "image data is {} bytes, a {w}×{h} image needs {}",
            pixels.len(),
            row * h as usize
        ));
    }
    if let Some(bad) = pixels.chunks_exact(row).find(|line| line[0] > 4) {
        return Err(format!("invalid row filter {}", bad[0]));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_images_check_and_corruption_does_not() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8).collect();
        let png = encode_rgb(4, 3, &rgb);
        assert_eq!(check(&png), Ok((4, 3)));
        let mut broken = png.clone();
        let last = broken.len() - 20;
        broken[last] ^= 0xff;
        assert!(check(&broken).is_err());
        assert!(check(b"GIF89a").is_err());
    }
}

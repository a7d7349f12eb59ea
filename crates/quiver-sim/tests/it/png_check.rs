//! A PNG checker for the tests: decodes a file far enough to prove it valid,
//! so the charts the report writes are known to open.

use flate2::read::ZlibDecoder;
use std::io::Read;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

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

#[test]
fn the_checker_refuses_corruption() {
    assert!(check(b"GIF89a").is_err());
    let mut png = SIGNATURE.to_vec();
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&[0, 0, 0, 0]); // wrong CRC
    assert_eq!(check(&png), Err("bad CRC in chunk IEND".to_string()));
}

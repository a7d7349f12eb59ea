//! How a [`FeatureRow`] becomes bytes in a key-value store, and back.
//!
//! The encoding is self-describing — each value carries a one-byte type tag —
//! so a row can be decoded without its layout and a stale layout can never
//! misread a row. Little-endian, fixed width for numbers:
//!
//! ```text
//! u8  format version (1)
//! i64 event time, microseconds since the epoch
//! u16 number of values
//! per value: u8 tag, then 0 (null), 1 (bool), 8 (int64, float64, timestamp),
//!            4 (date) or 4 + n (string: u32 length, UTF-8 bytes) bytes
//! ```
//!
//! 22 float features take 209 bytes. Hand-written rather than serde-based
//! because the decoder is on the serving hot path; see docs/DESIGN.md.

use crate::{FeatureRow, FeatureValue};

const FORMAT_VERSION: u8 = 1;

const TAG_NULL: u8 = 0;
const TAG_BOOL: u8 = 1;
const TAG_INT64: u8 = 2;
const TAG_FLOAT64: u8 = 3;
const TAG_STRING: u8 = 4;
const TAG_DATE: u8 = 5;
const TAG_TIMESTAMP: u8 = 6;

/// Appends the encoding of `row` to `out`.
pub fn encode_into(row: &FeatureRow, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&row.event_time_micros.to_le_bytes());
    let count = u16::try_from(row.values.len()).expect("a view has at most 65,535 features");
    out.extend_from_slice(&count.to_le_bytes());
    for value in &row.values {
        match value {
            FeatureValue::Null => out.push(TAG_NULL),
            FeatureValue::Bool(b) => out.extend_from_slice(&[TAG_BOOL, *b as u8]),
            FeatureValue::Int64(v) => {
                out.push(TAG_INT64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            FeatureValue::Float64(v) => {
                out.push(TAG_FLOAT64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            FeatureValue::String(s) => {
                out.push(TAG_STRING);
                let len = u32::try_from(s.len()).expect("a feature value is under 4 GiB");
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            FeatureValue::Date(d) => {
                out.push(TAG_DATE);
                out.extend_from_slice(&d.to_le_bytes());
            }
            FeatureValue::Timestamp(t) => {
                out.push(TAG_TIMESTAMP);
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
}

/// The encoding of `row`.
pub fn encode(row: &FeatureRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(11 + 9 * row.values.len());
    encode_into(row, &mut out);
    out
}

/// The event time of an encoded row, read without decoding the values.
pub fn event_time(bytes: &[u8]) -> Result<i64, String> {
    if bytes.first() != Some(&FORMAT_VERSION) {
        return Err(format!(
            "unknown format version {:?} (expected {FORMAT_VERSION})",
            bytes.first()
        ));
    }
    let mut reader = Reader { bytes, at: 1 };
    reader.i64()
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<FeatureRow, String> {
    let event_time_micros = event_time(bytes)?;
    let mut reader = Reader { bytes, at: 9 };
    let count = u16::from_le_bytes(reader.array()?) as usize;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let value = match reader.array::<1>()?[0] {
            TAG_NULL => FeatureValue::Null,
            TAG_BOOL => FeatureValue::Bool(reader.array::<1>()?[0] != 0),
            TAG_INT64 => FeatureValue::Int64(reader.i64()?),
            TAG_FLOAT64 => FeatureValue::Float64(f64::from_le_bytes(reader.array()?)),
            TAG_STRING => {
                let len = u32::from_le_bytes(reader.array()?) as usize;
                let raw = reader.take(len)?;
                FeatureValue::String(
                    std::str::from_utf8(raw)
                        .map_err(|e| format!("string value is not UTF-8: {e}"))?
                        .to_string(),
                )
            }
            TAG_DATE => FeatureValue::Date(i32::from_le_bytes(reader.array()?)),
            TAG_TIMESTAMP => FeatureValue::Timestamp(reader.i64()?),
            tag => return Err(format!("unknown value tag {tag} at byte {}", reader.at - 1)),
        };
        values.push(value);
    }
    if reader.at != bytes.len() {
        return Err(format!(
            "{} trailing bytes after {count} values",
            bytes.len() - reader.at
        ));
    }
    Ok(FeatureRow {
        event_time_micros,
        values,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "truncated: needed {n} bytes at byte {} of {}",
                self.at,
                self.bytes.len()
            )
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind_of_value() -> FeatureRow {
        FeatureRow {
            event_time_micros: 1_393_545_600_000_000,
            values: vec![
                FeatureValue::Null,
                FeatureValue::Bool(true),
                FeatureValue::Int64(-48),
                FeatureValue::Float64(0.125),
                FeatureValue::Float64(f64::NAN),
                FeatureValue::String("MAC000002 ☃".to_string()),
                FeatureValue::Date(16_129),
                FeatureValue::Timestamp(-1),
            ],
        }
    }

    #[test]
    fn round_trips_every_value_kind() {
        let row = every_kind_of_value();
        let decoded = decode(&encode(&row)).unwrap();
        assert_eq!(decoded.event_time_micros, row.event_time_micros);
        assert_eq!(decoded.values.len(), row.values.len());
        for (a, b) in decoded.values.iter().zip(&row.values) {
            match (a, b) {
                (FeatureValue::Float64(x), FeatureValue::Float64(y)) if y.is_nan() => {
                    assert!(x.is_nan())
                }
                _ => assert_eq!(a, b),
            }
        }
        assert_eq!(event_time(&encode(&row)).unwrap(), row.event_time_micros);
    }

    #[test]
    fn rejects_truncated_and_padded_bytes_instead_of_panicking() {
        let bytes = encode(&every_kind_of_value());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode(&padded).unwrap_err().contains("trailing"));
        let mut bad_tag = bytes;
        bad_tag[11] = 99;
        assert!(decode(&bad_tag).unwrap_err().contains("unknown value tag"));
    }

    #[test]
    fn twenty_two_floats_take_209_bytes() {
        let row = FeatureRow {
            event_time_micros: 0,
            values: vec![FeatureValue::Float64(1.0); 22],
        };
        assert_eq!(encode(&row).len(), 209);
    }
}

//! Puts rows held in memory in partition order, for [`crate::OfflineStore::write`]
//! (small writes, tests). The feature job streams its rows already sorted by
//! DataFusion, which spills, and never comes here.
//!
//! A feature job's rows come out of the window computation ordered by entity,
//! so one batch touches hundreds of days. Handed to delta-rs as they are, every
//! batch is split into tiny pieces and every partition keeps an open Parquet
//! writer until the commit (the demo job: 829 writers, 3.8 GiB). Sorted by
//! event time, then entity key, each partition is one contiguous slice that is
//! written and closed before the next, and every Parquet file comes out ordered
//! by key, which makes its min/max statistics useful to readers.

use crate::memory::release_freed_memory;
use deltalake::arrow::array::{Array, ArrayRef};
use deltalake::arrow::compute::{SortColumn, concat, lexsort_to_indices, take};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;

/// Rows per sorted batch (DataFusion's batch size).
const BATCH_ROWS: usize = 8192;

/// `batches` sorted by `sort_columns` (ascending, nulls first), in batches of
/// [`BATCH_ROWS`]; empty when there are no rows. Works one column at a time
/// and frees each input column as its sorted copy is made, so the peak is the
/// input plus about one column rather than twice the input.
pub(crate) fn in_partition_order(
    batches: Vec<RecordBatch>,
    sort_columns: &[&str],
) -> Result<Vec<RecordBatch>, ArrowError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(Vec::new());
    }
    // Column-major pieces; the batches themselves are dropped here.
    let mut pieces: Vec<Vec<ArrayRef>> =
        vec![Vec::with_capacity(batches.len()); schema.fields().len()];
    for batch in batches {
        for (column, array) in batch.columns().iter().enumerate() {
            pieces[column].push(array.clone());
        }
    }
    let whole = |pieces: &[ArrayRef]| -> Result<ArrayRef, ArrowError> {
        let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
        concat(&refs)
    };
    let keys = sort_columns
        .iter()
        .map(|name| {
            let index = schema.index_of(name)?;
            Ok(SortColumn {
                values: whole(&pieces[index])?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    let order = lexsort_to_indices(&keys, None)?;
    drop(keys);
    let chunks: Vec<(usize, usize)> = (0..rows)
        .step_by(BATCH_ROWS)
        .map(|offset| (offset, BATCH_ROWS.min(rows - offset)))
        .collect();
    let mut sorted: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(pieces.len()); chunks.len()];
    for column in pieces.iter_mut() {
        let input = whole(&std::mem::take(column))?;
        for (chunk, &(offset, len)) in sorted.iter_mut().zip(&chunks) {
            chunk.push(take(input.as_ref(), &order.slice(offset, len), None)?);
        }
        drop(input);
        // The input column was allocated by other threads (see crate::memory).
        release_freed_memory();
    }
    sorted
        .into_iter()
        .map(|columns| RecordBatch::try_new(schema.clone(), columns))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{AsArray, Int32Array, StringArray};
    use deltalake::arrow::datatypes::Int32Type;
    use std::sync::Arc;

    fn batch(days: &[i32], ids: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids.to_vec())) as ArrayRef),
            ("day", Arc::new(Int32Array::from(days.to_vec())) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn sorts_by_partition_then_key_across_batches() {
        let input = vec![
            batch(&[3, 1, 2], &["a", "a", "a"]),
            batch(&[2, 1], &["b", "b"]),
        ];
        let out = in_partition_order(input, &["day", "id"]).unwrap();
        let rows: Vec<(i32, String)> = out
            .iter()
            .flat_map(|b| {
                let days = b.column(1).as_primitive::<Int32Type>().clone();
                let ids = b.column(0).as_string::<i32>().clone();
                (0..b.num_rows())
                    .map(move |i| (days.value(i), ids.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected = [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a")];
        assert_eq!(rows, expected.map(|(d, i)| (d, i.to_string())));
    }

    #[test]
    fn no_rows_gives_no_batches() {
        assert!(
            in_partition_order(vec![batch(&[], &[])], &["day"])
                .unwrap()
                .is_empty()
        );
        assert!(in_partition_order(Vec::new(), &["day"]).unwrap().is_empty());
    }
}

//! Writes a job's rows as Parquet data files, one partition at a time, and
//! returns the `add` actions for the commit that publishes them.
//!
//! delta-rs's own write operation keeps one open Parquet writer per partition
//! until it commits; a job that touches 829 days then holds 829 half-built
//! files in memory (3.8 GiB for the demo). Here each partition gets its own
//! short-lived [`DeltaWriter`] that is closed, and its file finished, before a
//! later partition starts, with at most one partition per core in flight. The
//! files stay invisible to readers until [`crate::OfflineStore`] commits their
//! actions in one transaction, so a failed job leaves only unreferenced files
//! (which `VACUUM` removes), never a half-written table version.

use deltalake::DeltaTableError;
use deltalake::ObjectStore;
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::Add;
use deltalake::operations::write::configs::WriterStatsConfig;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use futures::StreamExt;
use std::num::NonZeroU64;
use std::sync::Arc;

/// A file is rolled over past this size (Delta's usual target); a feature
/// view's daily partition is far smaller, so it is one file.
const TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// What the data files are written as.
pub(crate) struct FileLayout {
    /// The table's schema, partition column included; batches must match it.
    pub schema: SchemaRef,
    /// The one partition column.
    pub partition_column: String,
    /// Which columns get min/max statistics, from the table's properties.
    pub stats: WriterStatsConfig,
}

/// Snappy, as delta-rs and Spark write by default, but no dictionary for
/// floating-point columns. Measurements are nearly all distinct, so the
/// dictionary is abandoned anyway, and only after every value of the file
/// went through its hash table: an event-time partition holds one row per
/// entity, too few to reach the dictionary's size limit. That hashing was
/// 15 % of the job's CPU at ten times the demo (docs/DESIGN.md, "Parquet
/// settings"); it also made the files larger.
fn writer_properties(schema: &Schema) -> WriterProperties {
    let floats = schema.fields().iter().filter(|f| {
        matches!(
            f.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        )
    });
    floats
        .fold(
            WriterProperties::builder()
                .set_created_by(format!("quiver {}", env!("CARGO_PKG_VERSION")))
                .set_compression(Compression::SNAPPY),
            |builder, field| {
                builder
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false)
            },
        )
        .build()
}

/// Rows in partition order (the partition column first, as a job's sorted
/// stream delivers them), written as they arrive: each partition's rows go
/// to their own [`DeltaWriter`] task, which is closed when the next partition
/// starts, with at most one partition per core encoding at a time. Memory is
/// a few batches per writer, whatever the number of rows. `observe` sees
/// every batch (cast to the table's schema) before it is written; an error
/// from it, the stream or a writer stops the write. Returns the files' `add`
/// actions, in partition order, and the rows written.
pub(crate) async fn write_sorted_stream<E>(
    store: Arc<dyn ObjectStore>,
    layout: &FileLayout,
    mut rows: impl futures::Stream<Item = Result<RecordBatch, E>> + Unpin,
    observe: &mut (dyn FnMut(&RecordBatch) -> Result<(), DeltaTableError> + Send),
) -> Result<(Vec<Add>, usize), DeltaTableError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    use deltalake::arrow::array::{Array, ArrayRef};
    use deltalake::arrow::compute::kernels::cmp::not_distinct;
    use deltalake::arrow::compute::partition;
    use deltalake::kernel::schema::cast::cast_record_batch;

    let config = WriterConfig::new(
        layout.schema.clone(),
        vec![layout.partition_column.clone()],
        Some(writer_properties(&layout.schema)),
        NonZeroU64::new(TARGET_FILE_BYTES),
        None,
        layout.stats.num_indexed_cols,
        layout.stats.stats_columns.clone(),
    );
    let in_flight = std::thread::available_parallelism().map_or(1, |n| n.get());
    let column = layout.schema.index_of(&layout.partition_column)?;
    type Writer = tokio::task::JoinHandle<Result<Vec<Add>, DeltaTableError>>;
    let mut writers: std::collections::VecDeque<Writer> = Default::default();
    let mut current: Option<(ArrayRef, tokio::sync::mpsc::Sender<RecordBatch>)> = None;
    let mut adds = Vec::new();
    let mut written = 0;
    let joined = |handle: Result<Result<Vec<Add>, DeltaTableError>, tokio::task::JoinError>| {
        handle.unwrap_or_else(|e| {
            Err(DeltaTableError::Generic(format!(
                "a partition writer stopped: {e}"
            )))
        })
    };
    let outcome: Result<(), DeltaTableError> = async {
        while let Some(batch) = rows.next().await {
            let batch = batch.map_err(|e| DeltaTableError::Generic(e.to_string()))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = cast_record_batch(&batch, layout.schema.clone(), false, false)?;
            observe(&batch)?;
            written += batch.num_rows();
            let values = batch.column(column).clone();
            for range in partition(std::slice::from_ref(&values))?.ranges() {
                let first = values.slice(range.start, 1);
                let same = match &current {
                    Some((value, _)) => not_distinct(value, &first)?.value(0),
                    None => false,
                };
                if !same {
                    // The previous partition is complete: its task closes
                    // the file once it has written what it was sent.
                    current = None;
                    while writers.len() >= in_flight {
                        let oldest = writers.pop_front().expect("not empty");
                        adds.extend(joined(oldest.await)?);
                    }
                    let (sender, mut receiver) = tokio::sync::mpsc::channel::<RecordBatch>(4);
                    let mut writer = DeltaWriter::new(store.clone(), config.clone());
                    writers.push_back(tokio::spawn(async move {
                        while let Some(rows) = receiver.recv().await {
                            if let Err(e) = writer.write(&rows).await {
                                let _ = writer.abort().await;
                                return Err(e);
                            }
                        }
                        writer.close().await
                    }));
                    current = Some((first, sender));
                }
                let (_, sender) = current.as_ref().expect("set above");
                if sender
                    .send(batch.slice(range.start, range.len()))
                    .await
                    .is_err()
                {
                    // The task ended early: its error comes out of the join.
                    current = None;
                    let failed = writers.pop_back().expect("the current writer");
                    joined(failed.await)?;
                    return Err(DeltaTableError::Generic(
                        "a partition writer stopped before its rows were sent".into(),
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    drop(current);
    let mut first_error = outcome.err();
    for writer in writers {
        match joined(writer.await) {
            Ok(files) => adds.extend(files),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((adds, written)),
    }
}

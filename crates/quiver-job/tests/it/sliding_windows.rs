//! Quiver's trailing-window operator against DataFusion's own evaluation of
//! the same SQL: every supported aggregate, frames from one row to longer
//! than a partition, nulls, NaN and infinities, null partition keys, and
//! batches cut anywhere (down to a few rows, so partitions run across many
//! batches).

use deltalake::arrow::array::AsArray;
use deltalake::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use deltalake::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use quiver_job::SlidingRowsWindows;
use std::sync::Arc;

/// A small deterministic generator, so that a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rows of (key, t, x: Float64, n: Int64), keys of very different lengths.
fn table(rows: usize, seed: u64) -> RecordBatch {
    let mut random = Lcg(seed);
    let mut keys = Vec::with_capacity(rows);
    let mut times = Vec::with_capacity(rows);
    let mut floats = Vec::with_capacity(rows);
    let mut ints = Vec::with_capacity(rows);
    let mut key = 0;
    let mut left = 0;
    for row in 0..rows {
        if left == 0 {
            key += 1;
            left = match random.below(4) {
                0 => 1,
                1 => 1 + random.below(5),
                2 => 1 + random.below(60),
                _ => 1 + random.below(700),
            };
        }
        left -= 1;
        keys.push((key % 17 != 0).then(|| format!("k{key:05}")));
        times.push(Some(row as i64));
        floats.push(match random.below(40) {
            1 => Some(f64::NAN),
            2 => Some(f64::INFINITY),
            3 => Some(f64::NEG_INFINITY),
            0 | 4..=6 => None,
            _ => Some((random.below(2_000_000) as f64 - 1_000_000.0) / 997.0 + 1e6),
        });
        ints.push((random.below(9) != 0).then(|| random.below(1_000_000) as i64 - 500_000));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("t", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(keys)),
        Arc::new(Int64Array::from(times)),
        Arc::new(Float64Array::from(floats)),
        Arc::new(Int64Array::from(ints)),
    ];
    RecordBatch::try_new(schema, columns).expect("valid batch")
}

/// Every supported aggregate over frames of `widths` rows, plus ones the
/// operator leaves to DataFusion when alone in a query.
fn query(widths: &[u64]) -> String {
    let mut columns = vec!["key".to_string(), "t".to_string()];
    for (w, width) in widths.iter().enumerate() {
        let frame = format!(
            "OVER (PARTITION BY key ORDER BY t ROWS BETWEEN {} PRECEDING AND CURRENT ROW)",
            width - 1
        );
        for (name, call) in [
            ("sum_x", "SUM(x)"),
            ("sum_n", "SUM(n)"),
            ("count_x", "COUNT(x)"),
            ("count_all", "COUNT(*)"),
            ("avg_x", "AVG(x)"),
            ("min_x", "MIN(x)"),
            ("max_x", "MAX(x)"),
            ("min_n", "MIN(n)"),
            ("max_n", "MAX(n)"),
            ("stddev_x", "STDDEV_SAMP(x)"),
            ("stddev_pop_x", "STDDEV_POP(x)"),
            ("var_x", "VAR_SAMP(x)"),
            ("var_pop_x", "VAR_POP(x)"),
        ] {
            columns.push(format!("{call} {frame} AS {name}_{w}"));
        }
    }
    format!("SELECT {} FROM data ORDER BY t", columns.join(", "))
}

async fn context(batch_size: usize, fast: bool, data: &RecordBatch) -> SessionContext {
    let config = SessionConfig::new()
        .with_batch_size(batch_size)
        .with_target_partitions(3);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    if fast {
        state = state.with_physical_optimizer_rule(Arc::new(SlidingRowsWindows));
    }
    let ctx = SessionContext::new_with_state(state.build());
    let chunks: Vec<RecordBatch> = (0..data.num_rows())
        .step_by(batch_size)
        .map(|start| data.slice(start, batch_size.min(data.num_rows() - start)))
        .collect();
    let table = MemTable::try_new(data.schema(), vec![chunks]).expect("table");
    ctx.register_table("data", Arc::new(table))
        .expect("register");
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> (Arc<dyn ExecutionPlan>, RecordBatch) {
    let frame = ctx.sql(sql).await.expect("plans");
    let plan = frame.create_physical_plan().await.expect("physical plan");
    let batches = collect(plan.clone(), ctx.task_ctx()).await.expect("runs");
    let schema = plan.schema();
    let batch = deltalake::arrow::compute::concat_batches(&schema, &batches).expect("concat");
    (plan, batch)
}

fn uses_quiver_windows(plan: &Arc<dyn ExecutionPlan>) -> bool {
    displayable(plan.as_ref())
        .indent(false)
        .to_string()
        .contains("SlidingRowsWindowExec")
}

/// Floats agree when both are null, both NaN, equal, or within a relative
/// 1e-9 (the two sum in different orders).
fn assert_same(column: &str, ours: &ArrayRef, theirs: &ArrayRef) {
    assert_eq!(ours.data_type(), theirs.data_type(), "{column}");
    for row in 0..ours.len() {
        assert_eq!(
            ours.is_null(row),
            theirs.is_null(row),
            "{column} row {row}: null in one only"
        );
        if ours.is_null(row) {
            continue;
        }
        match ours.data_type() {
            DataType::Int64 => {
                let (a, b) = (
                    ours.as_primitive::<Int64Type>().value(row),
                    theirs.as_primitive::<Int64Type>().value(row),
                );
                assert_eq!(a, b, "{column} row {row}");
            }
            DataType::Float64 => {
                let (a, b) = (
                    ours.as_primitive::<Float64Type>().value(row),
                    theirs.as_primitive::<Float64Type>().value(row),
                );
                // DataFusion's running variance drifts along a partition
                // (ours is recomputed every frame's width, and checked
                // against a two-pass computation below), so spreads get a
                // looser bound than sums.
                let tolerance = if column.contains("var") || column.contains("stddev") {
                    1e-6
                } else {
                    1e-9
                };
                let close = a == b
                    || (a.is_nan() && b.is_nan())
                    || (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0);
                assert!(close, "{column} row {row}: ours {a}, DataFusion's {b}");
            }
            _ => assert_eq!(
                &ours.slice(row, 1),
                &theirs.slice(row, 1),
                "{column} row {row}"
            ),
        }
    }
}

/// DataFusion's own sliding sums carry `inf - inf = NaN` forward once an
/// infinity leaves the frame, and its variance can go below zero; on such
/// data the two are not comparable, so the comparison runs on finite data
/// and the non-finite cases are checked against a recomputation here.
fn finite(data: &RecordBatch) -> RecordBatch {
    let x = data
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let finite: Float64Array = x.iter().map(|v| v.filter(|v| v.is_finite())).collect();
    let mut columns = data.columns().to_vec();
    columns[2] = Arc::new(finite);
    RecordBatch::try_new(data.schema(), columns).unwrap()
}

#[tokio::test]
async fn every_supported_aggregate_equals_datafusions_own_on_finite_data() {
    let data = finite(&table(6_000, 7));
    let sql = query(&[1, 2, 7, 90, 365, 5_000]);
    for batch_size in [3, 64, 8192] {
        let (plan, ours) = run(&context(batch_size, true, &data).await, &sql).await;
        assert!(
            uses_quiver_windows(&plan),
            "the rule did not fire:\n{}",
            displayable(plan.as_ref()).indent(false)
        );
        let (plan, theirs) = run(&context(batch_size, false, &data).await, &sql).await;
        assert!(!uses_quiver_windows(&plan));
        assert_eq!(ours.num_rows(), data.num_rows());
        for (i, field) in ours.schema().fields().iter().enumerate() {
            assert_same(
                &format!("{} (batches of {batch_size})", field.name()),
                ours.column(i),
                theirs.column(i),
            );
        }
    }
}

/// Without `PARTITION BY` the whole input is one partition, carried across
/// every batch.
#[tokio::test]
async fn a_window_over_the_whole_input_equals_datafusions_own() {
    let data = finite(&table(3_000, 13));
    let sql = "SELECT t, SUM(x) OVER w AS s, COUNT(n) OVER w AS c, MAX(n) OVER w AS m \
        FROM data WINDOW w AS (ORDER BY t ROWS BETWEEN 40 PRECEDING AND CURRENT ROW) ORDER BY t";
    for batch_size in [5, 8192] {
        let (plan, ours) = run(&context(batch_size, true, &data).await, sql).await;
        assert!(uses_quiver_windows(&plan));
        let (_, theirs) = run(&context(batch_size, false, &data).await, sql).await;
        for (i, field) in ours.schema().fields().iter().enumerate() {
            assert_same(field.name(), ours.column(i), theirs.column(i));
        }
    }
}

/// Each result is a function of its frame alone: the same rows cut into
/// batches of 3 or of 8192 give the same bits.
#[tokio::test]
async fn results_do_not_depend_on_where_batches_are_cut() {
    let data = table(4_000, 11);
    let sql = query(&[3, 90, 365]);
    let (_, small) = run(&context(3, true, &data).await, &sql).await;
    let (_, large) = run(&context(8192, true, &data).await, &sql).await;
    assert_eq!(
        pretty_format_batches(&[small]).unwrap().to_string(),
        pretty_format_batches(&[large]).unwrap().to_string()
    );
}

/// Infinities and NaN, checked against a direct computation of each frame.
#[tokio::test]
async fn infinities_and_nan_leave_the_frame_cleanly() {
    let data = table(3_000, 5);
    let sql = "SELECT key, t, \
        SUM(x) OVER w AS s, AVG(x) OVER w AS a, MAX(x) OVER w AS mx, MIN(x) OVER w AS mn, \
        STDDEV_SAMP(x) OVER w AS sd \
        FROM data WINDOW w AS (PARTITION BY key ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) \
        ORDER BY t";
    let (plan, out) = run(&context(16, true, &data).await, sql).await;
    assert!(uses_quiver_windows(&plan));
    let keys = data
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let x = data
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let column = |i: usize| {
        out.column(i)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    let (sums, means, maxima, minima, stddevs) =
        (column(2), column(3), column(4), column(5), column(6));
    let mut saw_recovery = false;
    // Each partition's rows so far, in order; null keys are one partition.
    let mut partitions: std::collections::HashMap<Option<&str>, Vec<usize>> = Default::default();
    for row in 0..data.num_rows() {
        let seen = partitions
            .entry(keys.is_valid(row).then(|| keys.value(row)))
            .or_default();
        seen.push(row);
        let start = seen.len().saturating_sub(5);
        let frame: Vec<f64> = seen[start..]
            .iter()
            .filter(|&&r| x.is_valid(r))
            .map(|&r| x.value(r))
            .collect();
        let left = start.checked_sub(1).map(|i| seen[i]);
        let option = |a: &Float64Array| a.is_valid(row).then(|| a.value(row));
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => {
                a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(1.0)
            }
            (a, b) => a.is_none() && b.is_none(),
        };
        let sum = (!frame.is_empty()).then(|| frame.iter().sum::<f64>());
        assert!(
            same(option(&sums), sum),
            "sum row {row}: {:?} vs {sum:?} over {frame:?}",
            option(&sums)
        );
        let mean = sum.map(|s| s / frame.len() as f64);
        assert!(same(option(&means), mean), "avg row {row}");
        let max = frame
            .iter()
            .copied()
            .reduce(|a, b| if a.total_cmp(&b).is_ge() { a } else { b });
        assert!(same(option(&maxima), max), "max row {row}");
        let min = frame
            .iter()
            .copied()
            .reduce(|a, b| if a.total_cmp(&b).is_le() { a } else { b });
        assert!(same(option(&minima), min), "min row {row}");
        let stddev = (frame.len() >= 2).then(|| {
            let mean = frame.iter().sum::<f64>() / frame.len() as f64;
            (frame.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (frame.len() - 1) as f64)
                .sqrt()
        });
        let stddev = stddev.map(|s| {
            if frame.iter().any(|v| !v.is_finite()) {
                f64::NAN
            } else {
                s
            }
        });
        assert!(
            match (option(&stddevs), stddev) {
                (Some(a), Some(b)) =>
                    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                (a, b) => a.is_none() && b.is_none(),
            },
            "stddev row {row}: {:?} vs {stddev:?}",
            option(&stddevs)
        );
        // A frame that held an infinity one row earlier and holds only
        // finite values now.
        if left.is_some_and(|l| x.is_valid(l) && x.value(l).is_infinite())
            && sum.is_some_and(f64::is_finite)
        {
            saw_recovery = true;
        }
    }
    assert!(saw_recovery, "the data never let an infinity leave a frame");
}

/// Windows the operator does not compute (a RANGE frame, FILTER, DISTINCT)
/// stay with DataFusion, and a query mixing them with supported ones keeps
/// DataFusion's operator for the whole group.
#[tokio::test]
async fn windows_it_does_not_know_are_left_to_datafusion() {
    let data = finite(&table(500, 3));
    for sql in [
        "SELECT SUM(x) OVER (PARTITION BY key ORDER BY t RANGE BETWEEN 3 PRECEDING AND CURRENT ROW) FROM data",
        "SELECT SUM(x) FILTER (WHERE n > 0) OVER (PARTITION BY key ORDER BY t ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM data",
        "SELECT COUNT(DISTINCT n) OVER (PARTITION BY key ORDER BY t ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM data",
        "SELECT SUM(x) OVER (PARTITION BY key ORDER BY t ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING) FROM data",
        "SELECT SUM(x) OVER (PARTITION BY key ORDER BY t ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), \
                MEDIAN(x) OVER (PARTITION BY key ORDER BY t ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM data",
    ] {
        let ctx = context(64, true, &data).await;
        let frame = ctx.sql(sql).await.expect(sql);
        let plan = frame.create_physical_plan().await.expect("physical plan");
        assert!(!uses_quiver_windows(&plan), "{sql}");
        collect(plan, ctx.task_ctx()).await.expect("runs");
    }
}

//! Trailing `ROWS` windows computed a batch at a time.
//!
//! A feature view's windows are almost always `AGG(x) OVER (PARTITION BY key
//! ORDER BY time ROWS BETWEEN n PRECEDING AND CURRENT ROW)`. DataFusion
//! evaluates those one row and one expression at a time: it slices every
//! input array to the rows entering and leaving the frame, feeds the slices
//! to a sliding accumulator through `dyn` calls, and collects one
//! `ScalarValue` per row. On the demo job that loop was 60 % of the CPU
//! (docs/BENCHMARKS.md, "The feature job").
//!
//! [`SlidingRowsWindows`] is a physical optimizer rule. Where every
//! expression of a [`BoundedWindowAggExec`] over sorted input is such a
//! window, with an aggregate this module knows (`sum`, `count`, `avg`,
//! `min`, `max`, `stddev`, `stddev_pop`, `var`, `var_pop` over 64-bit
//! numbers, no `DISTINCT` or `FILTER`), it puts a [`SlidingRowsWindowExec`]
//! in its place. That operator computes each expression over a whole run of
//! rows in one loop over the typed values, and answers each input batch as
//! it arrives: a frame that ends at the current row is complete when the
//! row is. It carries from one batch to the next only the last rows of the
//! partition that continues. DataFusion still plans the partitioning and
//! the sort the window needs, and the replaced operator's properties stay.
//!
//! The answers are those of the SQL standard and of DataFusion, with two
//! deliberate differences in the last bits of floating-point results:
//! - A sliding sum adds the row entering the frame and subtracts the one
//!   leaving it, so rounding error builds up along a long partition. Here the
//!   running state is recomputed from the frame's own rows every `width`
//!   rows (at fixed row numbers of the partition), which bounds that error
//!   and makes each result a function of the frame and the row's position
//!   alone — not of where the input's batches happened to be cut.
//! - Infinities and NaN are counted rather than added, so a frame that no
//!   longer holds an infinity gets a finite sum again (`inf - inf` would
//!   leave NaN behind), and a variance whose running sum of squares rounds
//!   below zero reads as 0, not NaN. `max` and `min` order NaN above every
//!   number, as DataFusion and Spark do.

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, Int64Builder, PrimitiveArray,
};
use deltalake::arrow::compute::{concat, partition};
use deltalake::arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int64Type, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::row::{OwnedRow, RowConverter, SortField};
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::common::tree_node::{
    Transformed, TransformedResult, TreeNode, TreeNodeRecursion,
};
use deltalake::datafusion::config::ConfigOptions;
use deltalake::datafusion::error::Result;
use deltalake::datafusion::execution::TaskContext;
use deltalake::datafusion::logical_expr::{WindowFrame, WindowFrameBound, WindowFrameUnits};
use deltalake::datafusion::physical_expr::PhysicalExpr;
use deltalake::datafusion::physical_expr::window::{SlidingAggregateWindowExpr, WindowExpr};
use deltalake::datafusion::physical_expr_common::sort_expr::OrderingRequirements;
use deltalake::datafusion::physical_optimizer::PhysicalOptimizerRule;
use deltalake::datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet,
};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::windows::BoundedWindowAggExec;
use deltalake::datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, InputOrderMode, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// A physical optimizer rule that computes trailing `ROWS` windows
/// (`AGG(x) OVER (PARTITION BY … ORDER BY … ROWS BETWEEN n PRECEDING AND
/// CURRENT ROW)` with `sum`, `count`, `avg`, `min`, `max`, `stddev`,
/// `stddev_pop`, `var` or `var_pop` over 64-bit numbers) a batch at a time,
/// in place of DataFusion's row-at-a-time evaluation. Add it last, with
/// `SessionStateBuilder::with_physical_optimizer_rule`; queries without such
/// windows are left as they are.
#[derive(Debug, Default)]
pub struct SlidingRowsWindows;

impl PhysicalOptimizerRule for SlidingRowsWindows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(window) = node.downcast_ref::<BoundedWindowAggExec>() else {
                return Ok(Transformed::no(node));
            };
            match SlidingRowsWindowExec::try_new(Arc::new(window.clone())) {
                Some(exec) => Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>)),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "quiver_sliding_rows_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One window expression as this module computes it.
#[derive(Debug, Clone)]
struct TrailingWindow {
    aggregate: Aggregate,
    argument: Arc<dyn PhysicalExpr>,
    /// Rows in a full frame: `n + 1`.
    width: usize,
}

impl TrailingWindow {
    /// `expr` as a [`TrailingWindow`], if it is one this module computes
    /// over `input`'s columns.
    fn try_new(expr: &Arc<dyn WindowExpr>, input: &Schema) -> Option<Self> {
        let sliding = expr.as_any().downcast_ref::<SlidingAggregateWindowExpr>()?;
        let width = trailing_rows(expr.get_window_frame())?;
        let function = sliding.get_aggregate_expr();
        // DataFusion 55 keeps a window's `FILTER (WHERE …)` behind a trait
        // it does not export; its derived `Debug` still shows it.
        let filtered = !format!("{sliding:?}").contains("filter: None");
        if function.is_distinct() || function.ignore_nulls() || filtered {
            return None;
        }
        let [argument] = <[_; 1]>::try_from(function.expressions()).ok()?;
        let input_type = argument.data_type(input).ok()?;
        let output = expr.field().ok()?;
        let aggregate = Aggregate::of(function.fun().name(), &input_type, output.data_type())?;
        Some(Self {
            aggregate,
            argument,
            width,
        })
    }

    /// Results for rows `from..` of `values`, whose row 0 is row `offset` of
    /// its partition.
    fn compute(&self, values: &ArrayRef, from: usize, offset: usize) -> ArrayRef {
        let frames = Frames {
            width: self.width,
            from,
            offset,
        };
        match self.aggregate {
            Aggregate::SumFloat => Arc::new(
                frames.slide::<FloatSum, _, _>(values.as_primitive::<Float64Type>(), FloatSum::sum),
            ),
            Aggregate::AvgFloat => Arc::new(
                frames
                    .slide::<FloatSum, _, _>(values.as_primitive::<Float64Type>(), FloatSum::mean),
            ),
            Aggregate::SumInt => Arc::new(
                frames.slide::<IntSum, _, _>(values.as_primitive::<Int64Type>(), IntSum::sum),
            ),
            Aggregate::Spread { sample, root } => Arc::new(
                frames.slide::<Spread, _, _>(values.as_primitive::<Float64Type>(), |s: &Spread| {
                    s.value(sample, root)
                }),
            ),
            Aggregate::Count => Arc::new(frames.count(values.as_ref())),
            Aggregate::MaxFloat => Arc::new(Float64Array::from(
                frames.extreme(values.as_primitive::<Float64Type>(), |a: f64, b: f64| {
                    a.total_cmp(&b).is_ge()
                }),
            )),
            Aggregate::MinFloat => Arc::new(Float64Array::from(
                frames.extreme(values.as_primitive::<Float64Type>(), |a: f64, b: f64| {
                    a.total_cmp(&b).is_le()
                }),
            )),
            Aggregate::MaxInt => Arc::new(Int64Array::from(
                frames.extreme(values.as_primitive::<Int64Type>(), |a: i64, b: i64| a >= b),
            )),
            Aggregate::MinInt => Arc::new(Int64Array::from(
                frames.extreme(values.as_primitive::<Int64Type>(), |a: i64, b: i64| a <= b),
            )),
        }
    }

    /// The first row, counted from the start of the partition, that a later
    /// batch may need once every row before `next` has its result: the start
    /// of the frame at the last recomputation point at or before `next`.
    fn first_needed(&self, next: usize) -> usize {
        let anchor = next - next % self.width;
        anchor.saturating_sub(self.width - 1)
    }
}

/// Rows in the frame if it is `ROWS BETWEEN n PRECEDING AND CURRENT ROW`.
fn trailing_rows(frame: &WindowFrame) -> Option<usize> {
    if frame.units != WindowFrameUnits::Rows
        || !matches!(frame.end_bound, WindowFrameBound::CurrentRow)
    {
        return None;
    }
    match &frame.start_bound {
        WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n))) => {
            usize::try_from(*n).ok()?.checked_add(1)
        }
        _ => None,
    }
}

/// The operator that replaces a [`BoundedWindowAggExec`] whose every
/// expression is a [`TrailingWindow`]: same input, same output, same
/// properties.
#[derive(Debug)]
pub struct SlidingRowsWindowExec {
    replaced: Arc<BoundedWindowAggExec>,
    windows: Vec<TrailingWindow>,
    metrics: ExecutionPlanMetricsSet,
}

impl SlidingRowsWindowExec {
    fn try_new(replaced: Arc<BoundedWindowAggExec>) -> Option<Self> {
        if replaced.input_order_mode != InputOrderMode::Sorted
            || replaced.state_observer().is_some()
        {
            return None;
        }
        let exprs = replaced.window_expr();
        let partition_by = exprs.first()?.partition_by();
        let input = replaced.input().schema();
        // Partition keys are compared in Arrow's row format.
        if !RowConverter::supports_fields(&key_fields(partition_by, &input).ok()?) {
            return None;
        }
        let windows = exprs
            .iter()
            .map(|expr| {
                let same_partitions = expr.partition_by().len() == partition_by.len()
                    && expr
                        .partition_by()
                        .iter()
                        .zip(partition_by)
                        .all(|(a, b)| a.eq(b));
                same_partitions
                    .then(|| TrailingWindow::try_new(expr, &input))
                    .flatten()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            replaced,
            windows,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// How `partition_by` is compared: each key's type, in Arrow's row format.
fn key_fields(partition_by: &[Arc<dyn PhysicalExpr>], input: &Schema) -> Result<Vec<SortField>> {
    partition_by
        .iter()
        .map(|key| key.data_type(input).map(SortField::new))
        .collect()
}

impl DisplayAs for SlidingRowsWindowExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .replaced
            .window_expr()
            .iter()
            .map(|e| e.name())
            .collect();
        write!(f, "SlidingRowsWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for SlidingRowsWindowExec {
    fn name(&self) -> &'static str {
        "SlidingRowsWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.replaced.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.replaced.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.replaced.apply_expressions(f)
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.replaced.required_input_ordering()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.replaced.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let replaced = self.replaced.clone().replace_children(children, options)?;
        match replaced.downcast_ref::<BoundedWindowAggExec>() {
            Some(window) => Ok(Arc::new(Self {
                replaced: Arc::new(window.clone()),
                windows: self.windows.clone(),
                metrics: ExecutionPlanMetricsSet::new(),
            })),
            None => Ok(replaced),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partition_by = self.replaced.window_expr()[0].partition_by().to_vec();
        let key_fields = key_fields(&partition_by, &self.replaced.input().schema())?;
        let keys = match key_fields.is_empty() {
            true => None,
            false => Some(RowConverter::new(key_fields)?),
        };
        let input = self.replaced.input().execute(partition, context)?;
        let schema = self.schema();
        let mut windows = WindowsStream {
            schema: schema.clone(),
            windows: self.windows.clone(),
            partition_by,
            keys,
            carried: None,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let output = input.map(move |batch| {
            let batch = batch?;
            let elapsed = windows.metrics.elapsed_compute().clone();
            let timer = elapsed.timer();
            let answered = windows.answer(&batch);
            timer.done();
            if let Ok(answered) = &answered {
                windows.metrics.record_output(answered.num_rows());
            }
            answered
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, output)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The partition that the last batch ended in, which the next may continue.
struct Carried {
    /// The partition's key (`None` without `PARTITION BY`: one partition).
    key: Option<OwnedRow>,
    /// Rows of the partition seen so far.
    rows: usize,
    /// Per window, the partition's last rows of its argument that a later
    /// row may still need.
    tails: Vec<ArrayRef>,
}

struct WindowsStream {
    schema: Arc<Schema>,
    windows: Vec<TrailingWindow>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// Compares partition keys (`None` without `PARTITION BY`).
    keys: Option<RowConverter>,
    carried: Option<Carried>,
    metrics: BaselineMetrics,
}

impl WindowsStream {
    /// `batch` with each window's results appended as columns.
    fn answer(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let key_columns = self
            .partition_by
            .iter()
            .map(|expr| expr.evaluate(batch)?.into_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let (ranges, first_key, last_key) = match &self.keys {
            None => (std::iter::once(0..rows).collect(), None, None),
            Some(converter) => {
                let key_at = |row: usize| -> Result<OwnedRow> {
                    let columns: Vec<ArrayRef> =
                        key_columns.iter().map(|c| c.slice(row, 1)).collect();
                    Ok(converter.convert_columns(&columns)?.row(0).owned())
                };
                let ranges = partition(&key_columns)?.ranges();
                (ranges, Some(key_at(0)?), Some(key_at(rows - 1)?))
            }
        };
        let carried = self
            .carried
            .take()
            .filter(|carried| carried.key == first_key);
        let last_range = ranges.len() - 1;
        let mut columns = batch.columns().to_vec();
        let mut tails = Vec::with_capacity(self.windows.len());
        let mut partition_rows = 0;
        for (w, window) in self.windows.iter().enumerate() {
            let argument = window.argument.evaluate(batch)?.into_array(rows)?;
            let mut pieces = Vec::with_capacity(ranges.len());
            for (r, range) in ranges.iter().enumerate() {
                let segment = argument.slice(range.start, range.len());
                let (values, from, offset) = match (&carried, r) {
                    (Some(carried), 0) => {
                        let tail = &carried.tails[w];
                        let values = concat(&[tail.as_ref(), segment.as_ref()])?;
                        (values, tail.len(), carried.rows - tail.len())
                    }
                    _ => (segment, 0, 0),
                };
                pieces.push(window.compute(&values, from, offset));
                if r == last_range {
                    partition_rows = offset + values.len();
                    let keep_from = window.first_needed(partition_rows) - offset;
                    tails.push(values.slice(keep_from, values.len() - keep_from));
                }
            }
            columns.push(match pieces.len() {
                1 => pieces.swap_remove(0),
                _ => concat(&pieces.iter().map(|p| p.as_ref()).collect::<Vec<_>>())?,
            });
        }
        self.carried = Some(Carried {
            key: last_key,
            rows: partition_rows,
            tails,
        });
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The aggregates computed here, with the input type each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    SumFloat,
    SumInt,
    Count,
    AvgFloat,
    MinFloat,
    MaxFloat,
    MinInt,
    MaxInt,
    /// Variance or standard deviation of a `Float64` column.
    Spread {
        sample: bool,
        root: bool,
    },
}

impl Aggregate {
    fn of(function: &str, input: &DataType, output: &DataType) -> Option<Self> {
        use DataType::{Float64, Int64};
        Some(match (function, input, output) {
            ("sum", Float64, Float64) => Self::SumFloat,
            ("sum", Int64, Int64) => Self::SumInt,
            ("count", _, Int64) => Self::Count,
            ("avg", Float64, Float64) => Self::AvgFloat,
            ("min", Float64, Float64) => Self::MinFloat,
            ("max", Float64, Float64) => Self::MaxFloat,
            ("min", Int64, Int64) => Self::MinInt,
            ("max", Int64, Int64) => Self::MaxInt,
            ("stddev", Float64, Float64) => Self::Spread {
                sample: true,
                root: true,
            },
            ("stddev_pop", Float64, Float64) => Self::Spread {
                sample: false,
                root: true,
            },
            ("var", Float64, Float64) => Self::Spread {
                sample: true,
                root: false,
            },
            ("var_pop", Float64, Float64) => Self::Spread {
                sample: false,
                root: false,
            },
            _ => return None,
        })
    }
}

/// The rows of one call: results for local rows `from..`, local row 0 being
/// row `offset` of the partition, over frames of `width` rows.
struct Frames {
    width: usize,
    from: usize,
    offset: usize,
}

/// A running aggregate over a frame that rows enter and leave.
trait Running<T>: Default {
    fn add(&mut self, value: T);
    fn remove(&mut self, value: T);
}

impl Frames {
    /// The frame's start, as a local row, for the local row `row`.
    fn frame_start(&self, row: usize) -> usize {
        (self.offset + row).saturating_sub(self.width - 1) - self.offset
    }

    /// Results of a [`Running`] aggregate for rows `from..`. The running
    /// state is rebuilt from its frame at every partition row that is a
    /// multiple of `width`, and slides in between.
    fn slide<R, T, F>(&self, values: &PrimitiveArray<T>, result: F) -> PrimitiveArray<T>
    where
        T: ArrowPrimitiveType,
        R: Running<T::Native>,
        F: Fn(&R) -> Option<T::Native>,
    {
        let rows = values.len();
        let mut out = PrimitiveArray::<T>::builder(rows.saturating_sub(self.from));
        if self.from >= rows {
            return out.finish();
        }
        let get = |row: usize| values.is_valid(row).then(|| values.value(row));
        let rebuilt = |row: usize| {
            let mut running = R::default();
            for value in (self.frame_start(row)..=row).filter_map(get) {
                running.add(value);
            }
            running
        };
        let first = self.offset + self.from;
        let mut row = first - first % self.width - self.offset;
        let mut running = rebuilt(row);
        loop {
            if row >= self.from {
                out.append_option(result(&running));
            }
            row += 1;
            if row == rows {
                break;
            }
            if (self.offset + row).is_multiple_of(self.width) {
                running = rebuilt(row);
                continue;
            }
            if let Some(value) = get(row) {
                running.add(value);
            }
            if self.offset + row >= self.width
                && let Some(value) = get(row - self.width)
            {
                running.remove(value);
            }
        }
        out.finish()
    }

    /// Non-null values in each frame, for rows `from..`.
    fn count(&self, values: &dyn Array) -> Int64Array {
        let rows = values.len();
        let mut out = Int64Builder::with_capacity(rows.saturating_sub(self.from));
        if self.from >= rows {
            return out.finish();
        }
        let mut count = (self.frame_start(self.from)..self.from)
            .filter(|&row| values.is_valid(row))
            .count() as i64;
        for row in self.from..rows {
            count += i64::from(values.is_valid(row));
            // The frame before this row's began one row earlier.
            if row > self.from
                && self.offset + row >= self.width
                && values.is_valid(row - self.width)
            {
                count -= 1;
            }
            out.append_value(count);
        }
        out.finish()
    }

    /// The value that `wins` against every other non-null value of each
    /// frame, for rows `from..`: a monotonic queue, each row entering and
    /// leaving it once.
    fn extreme<T, W>(&self, values: &PrimitiveArray<T>, wins: W) -> Vec<Option<T::Native>>
    where
        T: ArrowPrimitiveType,
        W: Fn(T::Native, T::Native) -> bool,
    {
        let rows = values.len();
        let mut out = Vec::with_capacity(rows.saturating_sub(self.from));
        if self.from >= rows {
            return out;
        }
        let mut queue: VecDeque<usize> = VecDeque::with_capacity(self.width.min(rows));
        for row in self.frame_start(self.from)..rows {
            if values.is_valid(row) {
                let value = values.value(row);
                while queue
                    .back()
                    .is_some_and(|&back| wins(value, values.value(back)))
                {
                    queue.pop_back();
                }
                queue.push_back(row);
            }
            if row < self.from {
                continue;
            }
            let start = self.frame_start(row);
            while queue.front().is_some_and(|&front| front < start) {
                queue.pop_front();
            }
            out.push(queue.front().map(|&best| values.value(best)));
        }
        out
    }
}

/// Sum and count of a frame's `Float64` values, with infinities and NaN
/// counted apart so that they leave the frame cleanly.
#[derive(Default)]
struct FloatSum {
    finite: f64,
    count: i64,
    positive_infinities: i64,
    negative_infinities: i64,
    nans: i64,
}

impl FloatSum {
    fn sum(&self) -> Option<f64> {
        let sum = if self.nans > 0 || (self.positive_infinities > 0 && self.negative_infinities > 0)
        {
            f64::NAN
        } else if self.positive_infinities > 0 {
            f64::INFINITY
        } else if self.negative_infinities > 0 {
            f64::NEG_INFINITY
        } else {
            self.finite
        };
        (self.count > 0).then_some(sum)
    }

    fn mean(&self) -> Option<f64> {
        self.sum().map(|sum| sum / self.count as f64)
    }

    fn tally(&mut self, value: f64, step: i64) {
        self.count += step;
        if value.is_nan() {
            self.nans += step;
        } else if value == f64::INFINITY {
            self.positive_infinities += step;
        } else if value == f64::NEG_INFINITY {
            self.negative_infinities += step;
        } else if step > 0 {
            self.finite += value;
        } else {
            self.finite -= value;
        }
    }
}

impl Running<f64> for FloatSum {
    fn add(&mut self, value: f64) {
        self.tally(value, 1);
    }

    fn remove(&mut self, value: f64) {
        self.tally(value, -1);
    }
}

/// Sum and count of a frame's `Int64` values; the sum wraps on overflow, as
/// DataFusion's does.
#[derive(Default)]
struct IntSum {
    sum: i64,
    count: i64,
}

impl IntSum {
    fn sum(&self) -> Option<i64> {
        (self.count > 0).then_some(self.sum)
    }
}

impl Running<i64> for IntSum {
    fn add(&mut self, value: i64) {
        self.sum = self.sum.wrapping_add(value);
        self.count += 1;
    }

    fn remove(&mut self, value: i64) {
        self.sum = self.sum.wrapping_sub(value);
        self.count -= 1;
    }
}

/// Welford's running mean and sum of squared deviations over a frame's
/// finite values (with DataFusion's update and retract formulas), and a
/// count of the others, which make the spread NaN.
#[derive(Default)]
struct Spread {
    count: u64,
    mean: f64,
    m2: f64,
    non_finite: u64,
}

impl Spread {
    fn value(&self, sample: bool, root: bool) -> Option<f64> {
        let values = self.count + self.non_finite;
        let variance = match values {
            0 => return None,
            1 if sample => return None,
            1 => 0.0,
            _ if self.non_finite > 0 => f64::NAN,
            _ => self.m2.max(0.0) / (values - u64::from(sample)) as f64,
        };
        Some(if root { variance.sqrt() } else { variance })
    }
}

impl Running<f64> for Spread {
    fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.non_finite += 1;
            return;
        }
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    fn remove(&mut self, value: f64) {
        if !value.is_finite() {
            self.non_finite -= 1;
            return;
        }
        self.count -= 1;
        if self.count == 0 {
            (self.mean, self.m2) = (0.0, 0.0);
            return;
        }
        let delta = self.mean - value;
        let mean = delta / self.count as f64 + self.mean;
        self.m2 -= delta * (mean - value);
        self.mean = mean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(width: usize, from: usize, offset: usize) -> Frames {
        Frames {
            width,
            from,
            offset,
        }
    }

    #[test]
    fn a_sum_that_saw_an_infinity_is_finite_again_once_it_leaves() {
        let values = Float64Array::from(vec![
            Some(1.0),
            Some(f64::INFINITY),
            Some(2.0),
            None,
            Some(3.0),
        ]);
        let sums = frames(2, 0, 0).slide::<FloatSum, _, _>(&values, FloatSum::sum);
        let sums: Vec<Option<f64>> = sums.iter().collect();
        assert_eq!(
            sums,
            vec![
                Some(1.0),
                Some(f64::INFINITY),
                Some(f64::INFINITY),
                Some(2.0),
                Some(3.0)
            ]
        );
    }

    #[test]
    fn a_later_call_gives_the_same_results_as_one_call_over_everything() {
        let values = Float64Array::from(
            (0..50)
                .map(|i| (i % 7 != 3).then_some(f64::from(i) * 0.1 + 1e9))
                .collect::<Vec<_>>(),
        );
        let whole =
            frames(4, 0, 0).slide::<Spread, _, _>(&values, |s: &Spread| s.value(true, true));
        // The buffer after rows 0..=36 were computed and rows before the
        // last recomputation point's frame were pruned.
        let next = 37;
        let kept_from = next - next % 4 - 3;
        let tail = values.slice(kept_from, 50 - kept_from);
        let later = frames(4, next - kept_from, kept_from)
            .slide::<Spread, _, _>(&tail, |s: &Spread| s.value(true, true));
        let whole: Vec<Option<f64>> = whole.iter().skip(37).collect();
        let later: Vec<Option<f64>> = later.iter().collect();
        assert_eq!(whole.len(), later.len());
        for (a, b) in whole.iter().zip(&later) {
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
        }
    }

    #[test]
    fn max_takes_nan_as_the_largest_and_skips_nulls() {
        let values =
            Float64Array::from(vec![Some(1.0), Some(f64::NAN), None, Some(0.5), None, None]);
        let maxima = frames(2, 0, 0).extreme(&values, |a: f64, b: f64| a.total_cmp(&b).is_ge());
        assert!(maxima[1].unwrap().is_nan() && maxima[2].unwrap().is_nan());
        assert_eq!(maxima[3], Some(0.5));
        assert_eq!(maxima[4], Some(0.5));
        assert_eq!(maxima[5], None);
    }
}

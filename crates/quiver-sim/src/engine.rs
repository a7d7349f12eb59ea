//! Running a simulation: [`run`] opens one connection per worker, drives them
//! in a closed or an open loop, and gathers every worker's [`Recorder`] into a
//! [`SimResult`].
//!
//! **Closed loop**: each worker sends, waits for the answer and sends again;
//! response time equals service time.
//!
//! **Open loop**: requests are due on a fixed schedule (request *i* at
//! `start + i / rate`), whatever the target does. A pacer thread releases each
//! request at its due time to a free connection; if every connection is busy
//! the request waits for one, and its response time — measured from the due
//! time, not from when it could finally be sent — includes that wait. This is
//! the coordinated-omission correction: a stall of the target shows up as slow
//! requests in the tail instead of as requests that were silently never sent.
//! Service time (from the actual send) is recorded beside it. The pacer is an
//! OS thread because Tokio's timer has millisecond resolution, which would add
//! up to a millisecond of false latency to every request at high rates.

use crate::live::LiveLine;
use crate::record::{LiveShared, Recorder, RequestError};
use crate::result::SimResult;
use crate::target::{Connection, Target};
use crate::workload::IdPicker;
use crate::{KeySpace, LoadModel, SimError, SimSettings, StopCondition, TargetSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Raw latencies kept for the "latencies over time" chart, over all workers.
const SAMPLES_KEPT: usize = 20_000;

/// A simulation ready to run.
pub struct SimPlan {
    /// What to do.
    pub settings: SimSettings,
    /// Where to send it.
    pub target: Target,
    /// The ids to draw from.
    pub keys: KeySpace,
    /// Draw the live line on stderr.
    pub live_line: bool,
}

/// Runs the simulation and returns what it measured.
pub async fn run(plan: SimPlan) -> Result<SimResult, SimError> {
    let SimPlan {
        settings,
        target,
        keys,
        live_line,
    } = plan;
    settings.validate()?;
    IdPicker::check_batch(&keys, settings.batch_size)?;
    let workers = settings.load.concurrency();
    let connections = target.connect_workers(workers).await?;
    let pickers = IdPicker::for_workers(&keys, settings.distribution, settings.seed, workers)?;
    let live = Arc::new(LiveShared::default());
    let started_at = chrono::Utc::now();
    let _line = live_line.then(|| LiveLine::start(Arc::clone(&live), describe_plan(&settings)));

    let (measure_start, recorders) = match settings.load {
        LoadModel::Closed { .. } => closed_loop(&settings, connections, pickers, &live).await?,
        LoadModel::Open { rate, .. } => {
            open_loop(&settings, rate, connections, pickers, &live).await?
        }
    };
    Ok(SimResult::from_recorders(
        settings,
        started_at,
        measure_start,
        recorders,
    ))
}

fn describe_plan(settings: &SimSettings) -> String {
    let load = match settings.load {
        LoadModel::Closed { workers } => format!("{workers} workers"),
        LoadModel::Open { rate, connections } => {
            format!("{rate:.0} req/s from {connections} workers")
        }
    };
    // Each worker has a connection of its own unless gRPC's are shared.
    let sharing = match &settings.target {
        TargetSpec::Grpc {
            connections: Some(shared),
            ..
        } => format!(" on {shared} shared HTTP/2 connection{}", plural(*shared)),
        _ => String::new(),
    };
    let stop = match settings.stop {
        StopCondition::Duration(d) => format!("for {}", crate::units::format_secs(d)),
        StopCondition::Requests(n) => format!("{n} requests"),
    };
    format!("{load}{sharing}, {stop}")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn recorder_for(
    worker: usize,
    measure_start: Instant,
    settings: &SimSettings,
    live: &Arc<LiveShared>,
) -> Recorder {
    let workers = settings.load.concurrency();
    Recorder::new(
        measure_start,
        (SAMPLES_KEPT / workers).max(100),
        settings.seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        Arc::clone(live),
    )
}

/// One request with the timeout applied; an abandoned request resets the connection.
async fn send(
    connection: &mut Connection,
    ids: &[u32],
    timeout: Duration,
) -> Result<(), RequestError> {
    match tokio::time::timeout(timeout, connection.send(ids)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            connection.reset();
            Err(RequestError::Timeout)
        }
    }
}

fn mark_measuring_at(live: &Arc<LiveShared>, at: Instant) {
    let live = Arc::clone(live);
    tokio::spawn(async move {
        tokio::time::sleep_until(at.into()).await;
        live.measuring.store(true, Ordering::Relaxed);
    });
}

async fn join_all(
    handles: Vec<tokio::task::JoinHandle<Recorder>>,
) -> Result<Vec<Recorder>, SimError> {
    let mut recorders = Vec::with_capacity(handles.len());
    for handle in handles {
        let mut recorder = handle.await.map_err(|e| SimError::Worker(e.to_string()))?;
        recorder.finish();
        recorders.push(recorder);
    }
    Ok(recorders)
}

async fn closed_loop(
    settings: &SimSettings,
    connections: Vec<Connection>,
    pickers: Vec<IdPicker>,
    live: &Arc<LiveShared>,
) -> Result<(Instant, Vec<Recorder>), SimError> {
    let start = Instant::now();
    let measure_start = start + settings.warmup;
    mark_measuring_at(live, measure_start);
    let end = match settings.stop {
        StopCondition::Duration(d) => Some(measure_start + d),
        StopCondition::Requests(_) => None,
    };
    let limit = match settings.stop {
        StopCondition::Requests(n) => n,
        StopCondition::Duration(_) => u64::MAX,
    };
    let claimed = Arc::new(AtomicU64::new(0));
    let handles = connections
        .into_iter()
        .zip(pickers)
        .enumerate()
        .map(|(w, (mut connection, mut picker))| {
            let mut recorder = recorder_for(w, measure_start, settings, live);
            let claimed = Arc::clone(&claimed);
            let (batch, timeout) = (settings.batch_size, settings.timeout);
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(batch);
                loop {
                    let now = Instant::now();
                    if end.is_some_and(|end| now >= end) {
                        break;
                    }
                    // Only measured requests count towards --requests; a
                    // timed run never touches the shared counter.
                    if limit != u64::MAX
                        && now >= measure_start
                        && claimed.fetch_add(1, Ordering::Relaxed) >= limit
                    {
                        break;
                    }
                    picker.fill(&mut ids, batch);
                    let sent = Instant::now();
                    let outcome = send(&mut connection, &ids, timeout).await;
                    recorder.record(sent, sent, Instant::now(), &outcome);
                }
                recorder
            })
        })
        .collect();
    Ok((measure_start, join_all(handles).await?))
}

async fn open_loop(
    settings: &SimSettings,
    rate: f64,
    connections: Vec<Connection>,
    pickers: Vec<IdPicker>,
    live: &Arc<LiveShared>,
) -> Result<(Instant, Vec<Recorder>), SimError> {
    let schedule = Schedule::new(rate, settings.warmup, settings.stop);
    let due = move |i: u64| schedule.due(i);
    let total = schedule.total();
    // A moment for the workers to report idle before the first request is due.
    let start = Instant::now() + Duration::from_millis(20);
    let measure_start = start + schedule.measure_start();
    mark_measuring_at(live, measure_start);

    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<usize>();
    let mut tickets = Vec::with_capacity(connections.len());
    let handles = connections
        .into_iter()
        .zip(pickers)
        .enumerate()
        .map(|(w, (mut connection, mut picker))| {
            let mut recorder = recorder_for(w, measure_start, settings, live);
            let (ticket_tx, mut ticket_rx) = tokio::sync::mpsc::channel::<u64>(1);
            tickets.push(ticket_tx);
            let idle_tx = idle_tx.clone();
            let (batch, timeout) = (settings.batch_size, settings.timeout);
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(batch);
                while idle_tx.send(w).is_ok() {
                    let Some(i) = ticket_rx.recv().await else {
                        break;
                    };
                    let intended = start + due(i);
                    picker.fill(&mut ids, batch);
                    let sent = Instant::now();
                    let outcome = send(&mut connection, &ids, timeout).await;
                    recorder.record(intended, sent, Instant::now(), &outcome);
                }
                recorder
            })
        })
        .collect();
    drop(idle_tx);

    let pacer = tokio::task::spawn_blocking(move || {
        precise_sleeps();
        for i in 0..total {
            let at = start + due(i);
            loop {
                let now = Instant::now();
                if now >= at {
                    break;
                }
                std::thread::sleep(at - now);
            }
            // Waits for a free connection; the request's clock is already running.
            let Ok(worker) = idle_rx.recv() else {
                break;
            };
            let _ = tickets[worker].try_send(i);
        }
        // Dropping the ticket senders ends the workers.
    });
    pacer.await.map_err(|e| SimError::Worker(e.to_string()))?;
    Ok((measure_start, join_all(handles).await?))
}

/// When each request of an open loop is due, counted from the loop's start:
/// request *i* at `i / rate`, the first `warmup_requests` of them warming up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    warmup_requests: u64,
    measured_requests: u64,
}

impl Schedule {
    /// The schedule of `rate` requests/s after `warmup`, until `stop`.
    pub fn new(rate: f64, warmup: Duration, stop: StopCondition) -> Schedule {
        Schedule {
            rate,
            warmup_requests: (warmup.as_secs_f64() * rate).round() as u64,
            measured_requests: match stop {
                StopCondition::Duration(d) => ((d.as_secs_f64() * rate).round() as u64).max(1),
                StopCondition::Requests(n) => n,
            },
        }
    }

    /// When request `i` (from 0, warm-up included) is due.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// When the first measured request is due.
    pub fn measure_start(&self) -> Duration {
        self.due(self.warmup_requests)
    }

    /// Requests sent in all, warm-up included.
    pub fn total(&self) -> u64 {
        self.warmup_requests + self.measured_requests
    }

    /// Requests measured.
    pub fn measured(&self) -> u64 {
        self.measured_requests
    }
}

/// Asks Linux to wake this thread's sleeps on time: the default timer slack
/// of 50 µs would otherwise be added to every open-loop request's response time.
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer and only affects the calling
    // thread; a failure leaves the default slack, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Where the ids come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// One id per line of a file.
    File(std::path::PathBuf),
    /// The offline table of the first feature's view (needs the repository).
    Offline,
    /// `id-0` … `id-{n-1}`: for the noop target, which has no data.
    Synthetic(usize),
}

/// Prepares the key space and the target of `settings` and runs the
/// simulation: what `quiver simulate` does.
pub async fn simulate(
    settings: SimSettings,
    repo: Option<&quiver_core::FeatureRepo>,
    keys: KeySource,
    live_line: bool,
) -> Result<SimResult, SimError> {
    settings.validate()?;
    let numeric = repo.is_some_and(|repo| {
        repo.entities.values().any(|e| {
            e.join_key == settings.entity_key && e.value_type == quiver_core::ValueType::Int64
        })
    });
    let keys = match keys {
        KeySource::File(path) => KeySpace::from_file(&path, numeric)?,
        KeySource::Synthetic(n) => {
            KeySpace::new((0..n).map(|i| format!("id-{i}")).collect(), false)?
        }
        #[cfg(not(feature = "offline"))]
        KeySource::Offline => {
            return Err(SimError::Setting {
                setting: "--ids-from",
                problem: "this build reads no offline tables; name a file of ids".to_string(),
            });
        }
        #[cfg(feature = "offline")]
        KeySource::Offline => {
            let repo = repo.ok_or(SimError::Setting {
                setting: "--ids-from",
                problem: "without a feature repository (--repo), name a file of ids".to_string(),
            })?;
            let references = repo.resolve_features(&settings.features)?;
            // `resolve_features` refuses a selection that names nothing.
            KeySpace::from_offline(repo, &references[0].view).await?
        }
    };
    let target = Target::prepare(&settings, repo, &keys).await?;
    run(SimPlan {
        settings,
        target,
        keys,
        live_line,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_names_workers_and_shared_connections() {
        let mut s = SimSettings {
            target: TargetSpec::Grpc {
                url: "http://127.0.0.1:1".to_string(),
                rpc: crate::GrpcRpc::Columnar,
                connections: Some(2),
            },
            features: crate::FeatureSelection::Features(vec!["v:f".to_string()]),
            entity_key: "id".to_string(),
            batch_size: 1,
            distribution: crate::KeyDistribution::Uniform,
            load: LoadModel::Open {
                rate: 1000.0,
                connections: 64,
            },
            warmup: Duration::ZERO,
            stop: StopCondition::Requests(10),
            timeout: Duration::from_secs(1),
            seed: 1,
            access: Default::default(),
        };
        assert_eq!(
            describe_plan(&s),
            "1000 req/s from 64 workers on 2 shared HTTP/2 connections, 10 requests"
        );
        s.target = TargetSpec::Noop;
        s.load = LoadModel::Closed { workers: 3 };
        assert_eq!(describe_plan(&s), "3 workers, 10 requests");
    }

    #[test]
    fn requests_are_due_at_i_over_rate() {
        let s = Schedule::new(
            10_000.0,
            Duration::from_millis(500),
            StopCondition::Duration(Duration::from_secs(3)),
        );
        assert_eq!(s.total(), 35_000);
        assert_eq!(s.measured(), 30_000);
        assert_eq!(s.measure_start(), Duration::from_millis(500));
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_micros(100));
        assert_eq!(s.due(12_345), Duration::from_micros(1_234_500));
        // Evenly spaced: no drift accumulates over a long run.
        assert_eq!(s.due(36_000_000), Duration::from_secs(3_600));
    }

    #[test]
    fn a_request_count_stops_the_schedule_exactly() {
        let s = Schedule::new(333.0, Duration::ZERO, StopCondition::Requests(1_000));
        assert_eq!((s.total(), s.measured()), (1_000, 1_000));
        assert_eq!(s.measure_start(), Duration::ZERO);
        // A run too short for one request still sends one.
        let tiny = Schedule::new(
            10.0,
            Duration::ZERO,
            StopCondition::Duration(Duration::from_millis(1)),
        );
        assert_eq!(tiny.total(), 1);
    }
}

//! The engine: worker threads that send, a collector that merges what they saw.
//!
//! Each worker thread runs its own single-threaded tokio runtime with its share of the lanes
//! (connections), so nothing on the request path is shared between threads. Once a second a
//! worker hands its second of counts and latencies to the collector (a channel message, not a
//! per-request cost); at the end, its whole-run histograms. The collector runs on the caller's
//! runtime: it finalises each second, calls the caller's progress callback, and merges the run.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::Error;
use crate::lane::{H2Shared, Worker, http1_lane, http2_lane};
use crate::schedule::{Cursor, Schedule};
use crate::stats::{Counts, Point, Recorder, Second, run_histogram};
use crate::target::Target;

/// How requests arrive.
#[derive(Debug, Clone)]
pub enum Load {
    /// Open model: requests are due on a schedule whatever the server does (arrival rate, as
    /// wrk2 and k6's arrival-rate executors); latency counts from the due time.
    Open(Schedule),
    /// Closed model: each connection sends its next request when the previous one is answered
    /// (as wrk); latency counts from the actual send.
    Closed { duration: Duration },
}

impl Load {
    pub fn duration(&self) -> Duration {
        match self {
            Load::Open(s) => s.duration(),
            Load::Closed { duration } => *duration,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Load::Open(_))
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub load: Load,
    /// HTTP/1.1: connections, each one request at a time. HTTP/2: connections, each carrying
    /// `streams` concurrent requests.
    pub connections: usize,
    /// h2c with prior knowledge.
    pub http2: bool,
    pub streams: usize,
    /// Worker threads (each a single-threaded runtime).
    pub threads: usize,
    /// A request without a complete response by then is a `timeout` error.
    pub timeout: Duration,
}

/// The progress callback's view, once a second.
#[derive(Debug, Clone)]
pub struct Live {
    pub elapsed: Duration,
    /// The last complete second.
    pub last: Point,
    /// Totals so far.
    pub requests: u64,
    pub errors: u64,
}

/// What a run observed.
#[derive(Debug, Clone)]
pub struct Results {
    /// From the start until the last request finished (or the run was stopped).
    pub elapsed: Duration,
    /// Latency from the intended send time, µs.
    pub latency: Histogram<u64>,
    /// Latency from the actual send time, µs.
    pub uncorrected: Histogram<u64>,
    pub counts: Counts,
    pub timeline: Vec<Point>,
    /// Open model: requests due before the end (or the stop).
    pub scheduled: Option<u64>,
    pub sent: u64,
    /// Open model: due requests never sent because every connection was busy.
    pub dropped: u64,
    /// Sent, but still without an outcome when the run was stopped.
    pub unfinished: u64,
    pub connections_opened: u64,
    /// Whether the run was stopped early (Ctrl-C).
    pub stopped: bool,
}

enum Message {
    Second(Second),
    Done(Box<Recorder>),
}

/// How long after the end in-flight requests may still finish (beyond `--timeout`).
const SLACK: Duration = Duration::from_millis(500);

/// Probes the target, then runs the load; `on_tick` gets progress once a second. Setting
/// `stop` to true ends the run early (the report still covers what happened).
pub async fn run(
    opts: Options,
    mut stop: watch::Receiver<bool>,
    mut on_tick: impl FnMut(&Live),
) -> Result<Results, Error> {
    if opts.connections == 0 || opts.threads == 0 || opts.streams == 0 {
        return Err(Error::Options(
            "--connections, --threads and --streams must be at least 1".into(),
        ));
    }
    let addr = opts
        .target
        .probe(opts.timeout.min(Duration::from_secs(3)))
        .await?;
    let threads = opts.threads.min(opts.connections);
    let opts = Arc::new(opts);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + opts.load.duration();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (halt_tx, halt_rx) = watch::channel(false);
    for index in 0..threads {
        let worker = Worker {
            opts: opts.clone(),
            addr,
            start,
            end,
            index: index as u64,
            count: threads as u64,
            next: Cell::new(0),
            cursor: RefCell::new(Cursor::default()),
            rec: RefCell::new(Recorder::default()),
        };
        let connections = share(opts.connections, threads, index);
        let tx = tx.clone();
        let halt = halt_rx.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        std::thread::Builder::new()
            .name(format!("updraft-load-{index}"))
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, work(worker, connections, tx, halt));
            })
            .map_err(Error::Runtime)?;
    }
    drop(tx);

    let mut pending: BTreeMap<u32, Second> = BTreeMap::new();
    let mut timeline: Vec<Point> = Vec::new();
    let mut totals = Counts::default();
    let mut latency = run_histogram();
    let mut uncorrected = run_histogram();
    let (mut sent, mut opened, mut done) = (0u64, 0u64, 0usize);
    let mut stopped_at: Option<Instant> = None;
    let mut tick =
        tokio::time::interval_at(start + Duration::from_millis(1250), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let target_rate = |t: u32| match &opts.load {
        Load::Open(s) => Some(s.rate_at(t as f64 + 0.5)),
        Load::Closed { .. } => None,
    };
    let finalize = |pending: &mut BTreeMap<u32, Second>, timeline: &mut Vec<Point>, upto: u32| {
        while timeline.len() < upto as usize {
            let t = timeline.len() as u32;
            let point = match pending.remove(&t) {
                Some(s) => s.point(target_rate(t)),
                None => Second::new(t).point(target_rate(t)),
            };
            timeline.push(point);
        }
    };
    while done < threads {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Second(s)) => {
                    totals.merge(&s.counts);
                    match pending.get_mut(&s.index) {
                        Some(p) => p.merge(&s),
                        None => {
                            pending.insert(s.index, s);
                        }
                    }
                }
                Some(Message::Done(rec)) => {
                    done += 1;
                    let _ = latency.add(&rec.latency);
                    let _ = uncorrected.add(&rec.uncorrected);
                    sent += rec.sent;
                    opened += rec.connections_opened;
                }
                None => break,
            },
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                let complete = elapsed.as_secs() as u32;
                finalize(&mut pending, &mut timeline, complete);
                if let Some(last) = timeline.last() {
                    on_tick(&Live {
                        elapsed,
                        last: last.clone(),
                        requests: totals.requests(),
                        errors: totals.errors(),
                    });
                }
            }
            changed = stop.changed(), if stopped_at.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    stopped_at = Some(Instant::now());
                    let _ = halt_tx.send(true);
                }
            }
        }
    }
    let finished = Instant::now();
    let last_second = pending.keys().next_back().map(|k| k + 1).unwrap_or(0);
    let upto = last_second.max(timeline.len() as u32);
    finalize(&mut pending, &mut timeline, upto);
    // Trailing seconds with nothing in them (the grace period) are not part of the run.
    while timeline.len() > 1
        && timeline.last().is_some_and(|p| p.requests == 0)
        && timeline.len() as f64 > opts.load.duration().as_secs_f64()
    {
        timeline.pop();
    }
    let cut = stopped_at.map(|s| s.saturating_duration_since(start));
    let scheduled = match &opts.load {
        Load::Open(s) => Some(due_before(s, cut.unwrap_or(Duration::MAX))),
        Load::Closed { .. } => None,
    };
    Ok(Results {
        elapsed: stopped_at
            .unwrap_or(finished)
            .saturating_duration_since(start),
        latency,
        uncorrected,
        unfinished: sent.saturating_sub(totals.requests()),
        dropped: scheduled.map(|s| s.saturating_sub(sent)).unwrap_or(0),
        counts: totals,
        timeline,
        scheduled,
        sent,
        connections_opened: opened,
        stopped: stopped_at.is_some(),
    })
}

/// `total` split over `parts`: the share of part `index`.
fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// How many requests of `schedule` are due before `cut` (binary search on the due times).
fn due_before(schedule: &Schedule, cut: Duration) -> u64 {
    let (mut lo, mut hi) = (0u64, schedule.total());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match schedule.due(mid) {
            Some(d) if d < cut => lo = mid + 1,
            _ => hi = mid,
        }
    }
    lo
}

/// One worker thread: its lanes, its once-a-second flush, its final report.
async fn work(
    worker: Worker,
    connections: usize,
    tx: mpsc::UnboundedSender<Message>,
    mut halt: watch::Receiver<bool>,
) {
    let w = Rc::new(worker);
    let hard_end = w.end + w.opts.timeout + SLACK;
    tokio::time::sleep_until(w.start).await;
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..connections {
        if w.opts.http2 {
            let shared = Rc::new(H2Shared::default());
            for _ in 0..w.opts.streams {
                lanes.spawn_local(http2_lane(w.clone(), shared.clone()));
            }
        } else {
            lanes.spawn_local(http1_lane(w.clone()));
        }
    }
    let flush = async {
        let mut tick =
            tokio::time::interval_at(w.start + Duration::from_secs(1), Duration::from_secs(1));
        loop {
            tick.tick().await;
            let next = (w.start.elapsed().as_secs() as u32).max(w.rec.borrow().second.index + 1);
            let second = w.rec.borrow_mut().take_second(next);
            if tx.send(Message::Second(second)).is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = async { while lanes.join_next().await.is_some() {} } => {}
        _ = flush => {}
        _ = tokio::time::sleep_until(hard_end) => {}
        _ = halt.wait_for(|h| *h) => {}
    }
    lanes.abort_all();
    let mut rec = w.rec.borrow_mut();
    let index = rec.second.index;
    let last = rec.take_second(index + 1);
    let _ = tx.send(Message::Second(last));
    let finished = std::mem::take(&mut *rec);
    let _ = tx.send(Message::Done(Box::new(finished)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_shared_out_evenly() {
        assert_eq!(
            (0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!((0..2).map(|i| share(1, 2, i)).sum::<usize>(), 1);
    }

    #[test]
    fn due_before_counts_requests_due_before_a_cut() {
        let s = Schedule::constant(10.0, Duration::from_secs(2));
        assert_eq!(due_before(&s, Duration::MAX), 20);
        assert_eq!(due_before(&s, Duration::from_millis(1050)), 11);
        assert_eq!(due_before(&s, Duration::ZERO), 0);
    }
}

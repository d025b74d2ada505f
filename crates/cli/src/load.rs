//! `updraft load`: the load generator's command (the engine is the `loadgen` crate).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use loadgen::report::{CapacitySample, Stack, Summary};
use loadgen::threshold::Threshold;
use loadgen::units::{Latency, Span, parse_duration, parse_rate};
use loadgen::{Live, Load, Options, Schedule, Target};
use model::Timestamp;
use server::clock::{Clock, SystemClock};

use crate::stackwatch::StackWatch;

/// Bad arguments or input files (EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// The URL cannot be reached (EX_UNAVAILABLE).
const EXIT_UNREACHABLE: u8 = 69;
/// A threshold did not hold (as k6).
const EXIT_THRESHOLDS: u8 = 99;

#[derive(Args, Debug)]
#[command(after_long_help = "\
Models:
  open    --rate N (or --stages/--stage): requests are due at a constant or staged arrival rate,
          whatever the server does, and latency counts from each request's intended send time,
          so a stalled server shows up in the percentiles (no coordinated omission, as wrk2).
          --connections is the most requests in flight; due requests that find every
          connection busy wait (their wait counts), and those still unsent at the end are
          reported as dropped.
  closed  no --rate (or --closed): each connection sends its next request as soon as the
          previous one is answered, as wrk does. Good for finding maximum throughput; its
          latencies hide queueing (coordinated omission).

Stages (--stages FILE, or --stage per line, in order):
  ramp to 200/s over 30s     linear from the current rate (--rate, else 0)
  hold for 1m                keep the current rate      hold 100/s for 30s   jump and keep
  spike 800/s for 10s        jump, then back to the rate before the spike
  `#` starts a comment; `to`, `over`, `for` are optional. --duration, if given, cuts the stages
  or holds the last rate until then.

Thresholds (--threshold, repeatable; any failure exits 99):
  p50 p90 p95 p99 p99.9 mean min max <,<=,>,>= a latency (250ms)    errors<0.1%  errors<=10
  rate>=95 (achieved req/s)    dropped<1%

Errors: status >= 400, and requests without a complete response (connect, timeout, closed,
protocol). When the URL is a listener of the stack run from --state-dir, the progress line
and the report show the auto scaling group's in-service instances and scaling activities.

Exit codes: 0 ok, 64 bad arguments or input, 69 URL unreachable, 99 a threshold failed.

Examples:
  updraft load http://127.0.0.1:8080/ --rate 200 --duration 30s --threshold 'p99<250ms'
  updraft load http://127.0.0.1:8080/api/quiz/grade -X POST \\
      -H 'content-type: application/json' --body '{\"answers\":[1,0,3],\"work\":20}' \\
      --stage 'ramp to 60/s over 60s' --stage 'hold for 2m' --report load.html --json load.json
  updraft load http://127.0.0.1:8080/ --connections 50 --duration 10s     (closed model)")]
pub struct LoadArgs {
    /// The URL to load, e.g. a listener of the stack: http://127.0.0.1:8080/
    pub url: String,
    /// Arrival rate in requests per second (open model). Without it and without stages, the
    /// closed model runs.
    #[arg(long, value_name = "N")]
    pub rate: Option<String>,
    /// How long to send (e.g. 30s, 2m). Default: the stages' total, else 10s.
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Connections (HTTP/1.1: the most requests in flight). Default: 100 open, 10 closed.
    #[arg(long, short = 'c', value_name = "N")]
    pub connections: Option<usize>,
    /// A stages file: one `ramp`/`hold`/`spike` per line (see below).
    #[arg(long, value_name = "FILE")]
    pub stages: Option<PathBuf>,
    /// One stage, repeatable, after those of --stages: e.g. --stage 'ramp to 200/s over 30s'.
    #[arg(long = "stage", value_name = "STAGE")]
    pub stage: Vec<String>,
    /// Run the closed model even with --connections only (the default without --rate).
    #[arg(long, conflicts_with_all = ["rate", "stages", "stage"])]
    pub closed: bool,
    /// Pass/fail criterion, repeatable: 'p99<250ms', 'errors<0.1%', 'rate>=95'.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Write the JSON summary here (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the self-contained HTML report here.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    pub method: String,
    /// Request header 'Name: value', repeatable.
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// HTTP/2 over cleartext with prior knowledge (h2c).
    #[arg(long)]
    pub http2: bool,
    /// Concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: usize,
    /// Worker threads sending the load (each a single-threaded runtime).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// A request without a complete response after this long is a timeout error.
    #[arg(long, default_value = "10s", value_name = "D")]
    pub timeout: String,
    /// No progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// A usage error: printed as one line, exit 64.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Checks every argument and input file; nothing is sent before all of them are good.
fn options(args: &LoadArgs) -> Result<(Options, Vec<Threshold>), String> {
    let thresholds = args
        .thresholds
        .iter()
        .map(|t| loadgen::threshold::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let flag_duration =
        |name: &str, v: &str| parse_duration(v).map_err(|e| format!("--{name} {v}: {e}"));
    let duration = args
        .duration
        .as_deref()
        .map(|d| flag_duration("duration", d))
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        return Err("--duration must be above 0".into());
    }
    let timeout = flag_duration("timeout", &args.timeout)?;
    if timeout.is_zero() {
        return Err("--timeout must be above 0".into());
    }
    let rate = args
        .rate
        .as_deref()
        .map(|r| parse_rate(r).map_err(|e| format!("--rate {r}: {e}")))
        .transpose()?;
    let mut stages = Vec::new();
    if let Some(path) = &args.stages {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read stages file {}: {e}", path.display()))?;
        stages = loadgen::stages::parse(&path.display().to_string(), &text)
            .map_err(|e| e.to_string())?;
    }
    if !args.stage.is_empty() {
        let text = args.stage.join("\n");
        let more = loadgen::stages::parse("--stage", &text)
            .map_err(|e| format!("{e} (counting --stage flags from 1)"))?;
        stages.extend(more);
    }
    let load = if !stages.is_empty() {
        let schedule = Schedule::from_stages(rate.unwrap_or(0.0), &stages, duration);
        if schedule.total() == 0 {
            return Err("the stages send no request: give some stage a rate above 0".into());
        }
        Load::Open(schedule)
    } else if let Some(rate) = rate {
        if rate <= 0.0 {
            return Err("--rate must be above 0 (or leave it out for the closed model)".into());
        }
        let d = duration.unwrap_or(Duration::from_secs(10));
        let schedule = Schedule::constant(rate, d);
        if schedule.total() == 0 {
            return Err(format!("--rate {rate} for {} sends no request", Span(d)));
        }
        Load::Open(schedule)
    } else {
        Load::Closed {
            duration: duration.unwrap_or(Duration::from_secs(10)),
        }
    };
    let connections = args
        .connections
        .unwrap_or(if load.is_open() { 100 } else { 10 });
    if !(1..=20_000).contains(&connections) {
        return Err("--connections must be between 1 and 20000".into());
    }
    if !(1..=64).contains(&args.threads) {
        return Err("--threads must be between 1 and 64".into());
    }
    if !(1..=1000).contains(&args.streams) {
        return Err("--streams must be between 1 and 1000".into());
    }
    if args.streams > 1 && !args.http2 {
        return Err("--streams applies to HTTP/2 only; add --http2".into());
    }
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => bytes::Bytes::from(b.clone()),
        (None, Some(path)) => std::fs::read(path)
            .map(bytes::Bytes::from)
            .map_err(|e| format!("cannot read --body-file {}: {e}", path.display()))?,
        (None, None) => bytes::Bytes::new(),
    };
    let target =
        Target::new(&args.url, &args.method, &args.headers, body).map_err(|e| e.to_string())?;
    Ok((
        Options {
            target,
            load,
            connections,
            http2: args.http2,
            streams: args.streams,
            threads: args.threads,
            timeout,
        },
        thresholds,
    ))
}

pub async fn load(args: LoadArgs, state_dir: &Path) -> ExitCode {
    let (opts, thresholds) = match options(&args) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    if let Err(e) = opts.target.probe(Duration::from_secs(3)).await {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_UNREACHABLE);
    }
    let watch = StackWatch::discover(state_dir, &opts.target.host, opts.target.port).await;
    let sampler = watch.as_ref().map(StackWatch::spawn_sampler);
    let progress = Progress::new(args.quiet, opts.load.duration());
    progress.header(&opts, watch.as_ref());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let clock = SystemClock::new();
    let wall_start: Arc<Mutex<Option<Timestamp>>> = Arc::default();
    let samples: Arc<Mutex<Vec<CapacitySample>>> = Arc::default();
    let latest = watch.as_ref().map(|w| w.latest.clone());
    let result = loadgen::run(opts.clone(), stop_rx, |live: &Live| {
        if let Ok(mut w) = wall_start.lock() {
            w.get_or_insert_with(|| clock.now() - live.elapsed);
        }
        let capacity = latest.as_ref().and_then(|l| l.lock().ok().and_then(|c| *c));
        if let (Some((in_service, desired)), Ok(mut s)) = (capacity, samples.lock()) {
            s.push(CapacitySample {
                t: live.last.t,
                in_service,
                desired,
            });
        }
        progress.tick(live, capacity);
    })
    .await;
    interrupt.abort();
    if let Some(s) = sampler {
        s.abort();
    }
    progress.done();
    let results = match result {
        Ok(r) => r,
        Err(e @ loadgen::Error::Unreachable { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNREACHABLE);
        }
        Err(e) => return usage(e),
    };
    let started = wall_start
        .lock()
        .ok()
        .and_then(|w| *w)
        .unwrap_or_else(|| clock.now() - results.elapsed);
    let stack = match &watch {
        Some(w) => Some(Stack {
            groups: w.groups.clone(),
            capacity: samples.lock().map(|s| s.clone()).unwrap_or_default(),
            activities: w.activities_since(started).await,
        }),
        None => None,
    };
    let summary =
        loadgen::report::summarize(&opts, &results, &thresholds, Some(started.rfc3339()), stack);
    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if json_to_stdout {
        eprint!("{}", summary.text());
    } else {
        print!("{}", summary.text());
    }
    if let Err(e) = write_outputs(&args, &summary) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if !summary.passed {
        let failed: Vec<&str> = summary
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| t.expression.as_str())
            .collect();
        eprintln!("error: threshold(s) failed: {}", failed.join(", "));
        return ExitCode::from(EXIT_THRESHOLDS);
    }
    ExitCode::SUCCESS
}

fn write_outputs(args: &LoadArgs, summary: &Summary) -> Result<(), String> {
    if let Some(path) = &args.json {
        if path == Path::new("-") {
            println!("{}", summary.to_json());
        } else {
            std::fs::write(path, summary.to_json() + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("JSON summary: {}", path.display());
        }
    }
    if let Some(path) = &args.report {
        std::fs::write(path, loadgen::report::html::render(summary))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    Ok(())
}

/// The live progress line on standard error: redrawn in place on a terminal, one line every
/// five seconds otherwise (logs).
struct Progress {
    quiet: bool,
    tty: bool,
    planned: Duration,
}

impl Progress {
    fn new(quiet: bool, planned: Duration) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            planned,
        }
    }

    fn header(&self, opts: &Options, watch: Option<&StackWatch>) {
        if self.quiet {
            return;
        }
        let model = match &opts.load {
            Load::Open(s) => format!(
                "open model: {} requests over {} (mean {:.1} req/s), latency from intended send time",
                s.total(),
                Span(s.duration()),
                s.total() as f64 / s.duration().as_secs_f64().max(1e-3)
            ),
            Load::Closed { duration } => format!(
                "closed model for {}: each connection sends when answered (give --rate for an \
                 open model without coordinated omission)",
                Span(*duration)
            ),
        };
        eprintln!(
            "loading {} {} with {} connection(s), {}",
            opts.target.method, opts.target.url, opts.connections, model
        );
        if let Some(w) = watch {
            eprintln!(
                "target stack: auto scaling group(s) {}",
                w.groups.join(", ")
            );
        }
    }

    fn tick(&self, live: &Live, capacity: Option<(u32, u32)>) {
        if self.quiet {
            return;
        }
        let secs = live.elapsed.as_secs();
        if !self.tty && !secs.is_multiple_of(5) && live.elapsed < self.planned {
            return;
        }
        let p = &live.last;
        let ms = |v: Option<f64>| {
            v.map(|v| Latency(Duration::from_secs_f64(v / 1000.0)).to_string())
                .unwrap_or_else(|| "-".into())
        };
        let share = if live.requests == 0 {
            0.0
        } else {
            live.errors as f64 * 100.0 / live.requests as f64
        };
        let mut line = format!(
            "{:>4}s/{}  {:>7.1} req/s{}  p50 {}  p99 {}  errors {} ({share:.2}%)",
            secs,
            Span(self.planned),
            p.requests as f64,
            p.target_rate
                .map(|t| format!(" (target {t:.0})"))
                .unwrap_or_default(),
            ms(p.p50_ms),
            ms(p.p99_ms),
            live.errors
        );
        if let Some((in_service, desired)) = capacity {
            line.push_str(&format!("  in service {in_service}/{desired}"));
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn done(&self) {
        if !self.quiet && self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: LoadArgs,
    }

    fn opts(argv: &[&str]) -> Result<(Options, Vec<Threshold>), String> {
        let mut full = vec!["load"];
        full.extend_from_slice(argv);
        options(&Wrap::try_parse_from(full).map_err(|e| e.to_string())?.args)
    }

    #[test]
    fn rate_means_open_and_no_rate_means_closed() {
        let (o, _) = opts(&["http://127.0.0.1:1/", "--rate", "50", "--duration", "2s"]).unwrap();
        assert!(matches!(&o.load, Load::Open(s) if s.total() == 100));
        assert_eq!(o.connections, 100);
        let (o, _) = opts(&["http://127.0.0.1:1/"]).unwrap();
        assert!(matches!(o.load, Load::Closed { duration } if duration == Duration::from_secs(10)));
        assert_eq!(o.connections, 10);
        let (o, _) = opts(&["http://127.0.0.1:1/", "--stage", "ramp to 10 over 2s"]).unwrap();
        assert!(matches!(&o.load, Load::Open(s) if s.total() == 10));
        assert!(opts(&["http://127.0.0.1:1/", "--closed", "--rate", "5"]).is_err());
    }

    #[test]
    fn bad_arguments_get_one_clear_message() {
        let e = |a: &[&str]| opts(a).unwrap_err();
        assert!(e(&["http://x/", "--threshold", "p99<<1s"]).contains("bad threshold `p99<<1s`"));
        assert!(e(&["http://x/", "--duration", "10"]).contains("--duration 10: `10` has no unit"));
        assert!(e(&["http://x/", "--rate", "lots"]).contains("--rate lots"));
        assert!(e(&["http://x/", "--rate", "0"]).contains("above 0"));
        assert!(
            e(&[
                "http://x/",
                "--stage",
                "hold 5 for 1s",
                "--stage",
                "jump 5 1s"
            ])
            .contains("--stage:2: unknown stage `jump`")
        );
        assert!(
            e(&["http://x/", "--stages", "/nonexistent/stages"])
                .contains("cannot read stages file")
        );
        assert!(e(&["x.example"]).contains("bad URL"));
        assert!(e(&["http://x/", "--streams", "4"]).contains("--http2"));
    }
}

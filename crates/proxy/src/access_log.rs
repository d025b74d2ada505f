//! Access logs in ALB's format (one line per request, space-separated, the fields of the ALB
//! user guide's "Access log entries"), appended to a file by a background task. Off unless a
//! listener's load balancer has `access_logs { enabled = true }`.
//!
//! The request path only formats a line and `try_send`s it: when the writer falls behind by
//! more than [`QUEUE`] lines, lines are dropped (and counted) rather than slowing requests.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// Lines queued for the writer at most.
const QUEUE: usize = 65_536;

/// An open access log.
#[derive(Debug)]
pub(crate) struct AccessLog {
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Creates the directories and file (appending) and starts the writer task.
    pub(crate) fn open(path: &Path) -> std::io::Result<AccessLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let shown = path.display().to_string();
        tokio::spawn(async move {
            let mut out = std::io::BufWriter::new(file);
            while let Some(line) = rx.recv().await {
                let mut result = out.write_all(line.as_bytes());
                // Write what is queued, then flush once: a line is on disk within one batch.
                while let Ok(more) = rx.try_recv() {
                    result = result.and_then(|()| out.write_all(more.as_bytes()));
                }
                if let Err(e) = result.and_then(|()| out.flush()) {
                    tracing::warn!(path = %shown, error = %e, "cannot write the access log");
                }
            }
        });
        Ok(AccessLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    pub(crate) fn write(&self, entry: &Entry<'_>, now_unix_micros: u64) {
        let line = entry.format(now_unix_micros);
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One request, as ALB logs it.
#[derive(Debug, Default)]
pub(crate) struct Entry<'a> {
    /// `app/<name>/<id>`.
    pub(crate) load_balancer: &'a str,
    pub(crate) client: Option<SocketAddr>,
    pub(crate) target: Option<SocketAddr>,
    /// Seconds, or `None` (logged as -1, as ALB does when there was no target response).
    pub(crate) target_processing: Option<f64>,
    pub(crate) elb_status: u16,
    pub(crate) target_status: Option<u16>,
    pub(crate) received_bytes: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) method: &'a str,
    /// `scheme://host:port/path?query`.
    pub(crate) url: String,
    pub(crate) version: &'a str,
    pub(crate) user_agent: &'a str,
    pub(crate) target_group_arn: Option<&'a str>,
    pub(crate) trace_id: &'a str,
    pub(crate) domain: &'a str,
    /// 0 for the default action.
    pub(crate) rule_priority: u32,
    pub(crate) request_creation_micros: u64,
    /// `forward`, `redirect`, `fixed-response`.
    pub(crate) actions: &'a str,
    pub(crate) redirect_url: Option<&'a str>,
    pub(crate) error_reason: Option<&'a str>,
}

impl Entry<'_> {
    fn format(&self, now_micros: u64) -> String {
        let dash = |o: Option<&str>| o.unwrap_or("-").to_owned();
        let addr = |a: Option<SocketAddr>| a.map_or("-".to_owned(), |a| a.to_string());
        let mut s = String::with_capacity(400);
        let _ = write!(
            s,
            "http {} {} {} {} 0.000 {} 0.000 {} {} {} {} \"{} {} {}\" \"{}\" - - {} \"{}\" \"{}\" \"-\" {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" \"-\" \"-\"",
            iso8601(now_micros),
            self.load_balancer,
            addr(self.client),
            addr(self.target),
            self.target_processing
                .map_or("-1".to_owned(), |t| format!("{t:.3}")),
            self.elb_status,
            self.target_status.map_or("-".to_owned(), |s| s.to_string()),
            self.received_bytes,
            self.sent_bytes,
            self.method,
            self.url,
            self.version,
            escape(self.user_agent),
            dash(self.target_group_arn),
            self.trace_id,
            escape(self.domain),
            self.rule_priority,
            iso8601(self.request_creation_micros),
            self.actions,
            dash(self.redirect_url),
            dash(self.error_reason),
            addr(self.target),
            self.target_status.map_or("-".to_owned(), |s| s.to_string()),
        );
        s.push('\n');
        s
    }
}

/// Double quotes and control characters would break the line format.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| if c == '"' || c.is_control() { '?' } else { c })
        .collect()
}

/// `2026-11-30T21:00:00.123456Z` from microseconds since the Unix epoch.
pub(crate) fn iso8601(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        micros % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso8601_utc_with_microseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            iso8601(1_530_570_180_186_641),
            "2018-07-02T22:23:00.186641Z"
        );
        assert_eq!(iso8601(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn a_line_has_albs_fields_in_order() {
        let e = Entry {
            load_balancer: "app/front/50dc6c495c0c9188",
            client: Some("192.168.131.39:2817".parse().unwrap()),
            target: Some("10.0.0.1:80".parse().unwrap()),
            target_processing: Some(0.001),
            elb_status: 200,
            target_status: Some(200),
            received_bytes: 34,
            sent_bytes: 366,
            method: "GET",
            url: "http://www.example.com:80/".into(),
            version: "HTTP/1.1",
            user_agent: "curl/7.46.0",
            target_group_arn: Some("arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/7"),
            trace_id: "Root=1-58337262-36d228ad5d99923122bbe354",
            domain: "-",
            rule_priority: 0,
            request_creation_micros: 1_530_570_168_364_000,
            actions: "forward",
            ..Entry::default()
        };
        let line = e.format(1_530_570_180_186_641);
        assert_eq!(
            line,
            "http 2018-07-02T22:23:00.186641Z app/front/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 \"GET http://www.example.com:80/ HTTP/1.1\" \"curl/7.46.0\" - - arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/7 \"Root=1-58337262-36d228ad5d99923122bbe354\" \"-\" \"-\" 0 2018-07-02T22:22:48.364000Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\"\n"
        );
    }
}

//! `updraft load` against real HTTP servers on loopback: a small threaded HTTP/1.1 server
//! written here (so each test controls what the server does), MyLearning over HTTP/2, and a
//! real stack for the capacity overlay. Runs are a second or two; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// What the test server does with each request.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// 200 with a small body, keep-alive.
    Ok,
    /// Every second request gets a 500.
    HalfErrors,
    /// Reads the request, then closes the connection without answering.
    Close,
}

/// A threaded HTTP/1.1 server on 127.0.0.1, stopped on drop.
struct TestServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    fn start(behaviour: Behaviour) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || serve(stream, behaviour, &count));
            }
        });
        TestServer {
            addr,
            requests,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn serve(stream: TcpStream, behaviour: Behaviour, count: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if !first
                && let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
            first = false;
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let response: &[u8] = match behaviour {
            Behaviour::Close => return,
            Behaviour::HalfErrors if n.is_multiple_of(2) => {
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops"
            }
            _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        };
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

fn load(args: &[&str]) -> Output {
    let dir = TempDir::new("load-nostack");
    Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("load")
        .args(args)
        .output()
        .unwrap()
}

fn json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_open_model_run_sends_the_schedule_and_writes_json_and_html() {
    let server = TestServer::start(Behaviour::Ok);
    let dir = TempDir::new("load-ok");
    let (js, html) = (dir.0.join("s.json"), dir.0.join("r.html"));
    let out = load(&[
        &server.url("/hello"),
        "--rate",
        "100",
        "--duration",
        "2s",
        "--threshold",
        "p99<10s",
        "--threshold",
        "errors<1%",
        "--json",
        js.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = json(&js);
    let r = &s["requests"];
    assert_eq!(r["scheduled"], 200, "{s:#}");
    assert_eq!(r["sent"], 200, "{s:#}");
    assert_eq!(r["responses"], 200, "{s:#}");
    assert_eq!(r["errors"], 0);
    assert_eq!(r["dropped"], 0);
    assert_eq!(server.requests(), 200);
    assert_eq!(s["model"], "open");
    assert_eq!(s["status_codes"]["200"], 200);
    assert_eq!(s["passed"], true);
    assert_eq!(s["thresholds"].as_array().unwrap().len(), 2);
    assert!(s["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let timeline = s["timeline"].as_array().unwrap();
    assert!((2..=3).contains(&timeline.len()), "{timeline:?}");
    let total: u64 = timeline
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 200, "timeline adds up");
    assert_eq!(timeline[0]["target_rate"], 100.0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains(&server.url("/hello")));
    assert_eq!(page.matches("<svg").count(), 3, "rate, latency, errors");
    assert!(!page.contains("<script") && !page.contains("src=\"http"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("thresholds all passed"), "{stdout}");
}

#[test]
fn server_errors_are_counted_and_fail_the_error_threshold() {
    let server = TestServer::start(Behaviour::HalfErrors);
    let dir = TempDir::new("load-500");
    let js = dir.0.join("s.json");
    let out = load(&[
        &server.url("/"),
        "--rate",
        "50",
        "--duration",
        "2s",
        "--threshold",
        "errors<0.1%",
        "--threshold",
        "p99<10s",
        "--json",
        js.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(99), "{}", text(&out));
    let s = json(&js);
    assert_eq!(s["requests"]["responses"], 100, "{s:#}");
    assert_eq!(s["requests"]["errors"], 50, "{s:#}");
    assert_eq!(s["status_codes"]["500"], 50);
    assert_eq!(s["status_codes"]["200"], 50);
    assert_eq!(s["passed"], false);
    assert_eq!(s["thresholds"][0]["passed"], false);
    assert_eq!(s["thresholds"][1]["passed"], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("threshold(s) failed: errors<0.1%"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL errors<0.1%"), "{stdout}");
}

#[test]
fn connections_closed_without_an_answer_are_errors() {
    let server = TestServer::start(Behaviour::Close);
    let dir = TempDir::new("load-close");
    let js = dir.0.join("s.json");
    let out = load(&[
        &server.url("/"),
        "--rate",
        "20",
        "--duration",
        "1s",
        "--json",
        js.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = json(&js);
    assert_eq!(s["requests"]["sent"], 20, "{s:#}");
    assert_eq!(s["requests"]["responses"], 0, "{s:#}");
    assert_eq!(s["requests"]["errors"], 20, "{s:#}");
    assert_eq!(s["requests"]["failures"]["closed"], 20, "{s:#}");
    assert_eq!(s["latency_ms"], Value::Null);
}

#[test]
fn the_closed_model_keeps_each_connection_busy() {
    let server = TestServer::start(Behaviour::Ok);
    let dir = TempDir::new("load-closed");
    let js = dir.0.join("s.json");
    let out = load(&[
        &server.url("/"),
        "--connections",
        "4",
        "--duration",
        "1s",
        "--threshold",
        "rate>=1",
        "--json",
        js.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = json(&js);
    assert_eq!(s["model"], "closed");
    assert_eq!(s["requests"]["scheduled"], Value::Null);
    let responses = s["requests"]["responses"].as_u64().unwrap();
    assert!(responses > 4, "{s:#}");
    assert_eq!(s["requests"]["errors"], 0);
    // Every request the server saw was answered and counted, and nothing else was counted.
    assert_eq!(
        server.requests(),
        responses + s["requests"]["unfinished"].as_u64().unwrap()
    );
    assert!(s["connections_opened"].as_u64().unwrap() >= 4);
}

#[test]
fn http2_prior_knowledge_against_mylearning() {
    ensure_mylearning();
    let port = free_port();
    let bin = updraft_bin().parent().unwrap().join("mylearning");
    let mut app = Command::new(bin)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("UPDRAFT_INSTANCE_ID", "i-test")
        .env("UPDRAFT_AZ", "us-east-1a")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "mylearning did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = TempDir::new("load-h2");
    let js = dir.0.join("s.json");
    let url = format!("http://127.0.0.1:{port}/api/quiz/grade");
    let out = load(&[
        &url,
        "--http2",
        "--connections",
        "2",
        "--streams",
        "4",
        "--rate",
        "40",
        "--duration",
        "1s",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--body",
        r#"{"answers":[1,0,3,2],"work":1}"#,
        "--json",
        js.to_str().unwrap(),
    ]);
    let _ = app.kill();
    let _ = app.wait();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = json(&js);
    assert_eq!(s["http_version"], "HTTP/2");
    assert_eq!(s["method"], "POST");
    assert_eq!(s["status_codes"]["200"], 40, "{s:#}");
    assert_eq!(s["connections_opened"], 2, "{s:#}");
}

#[test]
fn bad_input_gets_one_clear_message() {
    // Unreachable: a port nobody listens on; fails fast, before any load.
    let port = free_port();
    let start = Instant::now();
    let out = load(&[&format!("http://127.0.0.1:{port}/"), "--rate", "10"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach http://127.0.0.1:{port}/"))
            && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");

    let out = load(&["http://127.0.0.1:9/", "--threshold", "p99<250"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs a unit, e.g. `p99<250ms`"),
        "{stderr}"
    );

    let dir = TempDir::new("load-bad");
    let stages = dir.0.join("stages.txt");
    std::fs::write(&stages, "ramp to 100/s over 10s\nhold 100/s for 30\n").unwrap();
    let out = load(&["http://127.0.0.1:9/", "--stages", stages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stages.txt:2:"), "{stderr}");
    assert!(stderr.contains("give the duration a unit"), "{stderr}");
}

#[test]
fn a_stack_target_gets_capacity_and_activities_in_the_report() {
    let port = free_port();
    let stack = Stack::up(
        "load-stack",
        &stack_config(71, port, 2, "exec mylearning"),
        port,
    );
    stack.wait_for("2 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 2
    });
    let dir = TempDir::new("load-stack-out");
    let (js, html) = (dir.0.join("s.json"), dir.0.join("r.html"));
    let url = format!("http://127.0.0.1:{port}/health");
    let child = Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args(["load", &url, "--rate", "50", "--duration", "4s", "--json"])
        .arg(&js)
        .arg("--report")
        .arg(&html)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Scale out while the load runs: the activity must show up in the report.
    std::thread::sleep(Duration::from_millis(1500));
    let scaled = stack.cli(&["scale", "app", "3"]);
    assert!(scaled.status.success(), "{}", text(&scaled));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = json(&js);
    assert_eq!(s["stack"]["groups"], serde_json::json!(["app"]), "{s:#}");
    assert_eq!(s["requests"]["errors"], 0, "{s:#}");
    let in_service: Vec<u64> = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["in_service"].as_u64())
        .collect();
    assert!(in_service.first().is_some_and(|n| *n >= 2), "{s:#}");
    let desired: Vec<u64> = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["desired"].as_u64())
        .collect();
    assert_eq!(desired.last(), Some(&3), "{s:#}");
    let activities = s["stack"]["activities"].as_array().unwrap();
    assert!(
        activities.iter().any(|a| a["description"]
            .as_str()
            .unwrap_or("")
            .starts_with("Launching")),
        "{s:#}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("in service") && page.contains("Launching"),
        "no overlay"
    );
    stack.down();
}

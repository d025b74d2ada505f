//! The built `mylearning` binary on loopback: every route, the instance headers, and graceful
//! shutdown on SIGTERM. (This test also makes `cargo test --workspace` build the binary, which
//! the CLI's end-to-end tests launch as instances.)

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

const LIMIT: Duration = Duration::from_secs(30);

#[path = "http/postgres.rs"]
mod postgres;

/// A running app; SIGKILLed when dropped (kill_on_drop) if a test fails half-way.
struct App {
    child: Child,
    addr: SocketAddr,
}

impl App {
    async fn start() -> App {
        App::start_with(&[]).await
    }

    /// Starts the app with extra environment variables (database endpoints, session secret).
    async fn start_with(env: &[(&str, String)]) -> App {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mylearning"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("UPDRAFT_INSTANCE_ID", "i-0123456789abcdef0")
            .env("UPDRAFT_AZ", "us-east-1c")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("startup line within 10 s")
            .unwrap()
            .expect("a startup line on stderr");
        // "mylearning listening on http://127.0.0.1:PORT as instance … in … (pid …)"
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .parse()
            .unwrap();
        assert!(
            first.contains("i-0123456789abcdef0") && first.contains("us-east-1c"),
            "{first}"
        );
        // Keep draining stderr so the app never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        App { child, addr }
    }

    async fn sigterm_and_expect_clean_exit(mut self) {
        let pid = self.child.id().unwrap() as i32;
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        let status = timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exit within 10 s")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

/// One parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on `stream` and reads one `Content-Length` response.
async fn exchange(stream: &mut TcpStream, method: &str, path: &str, body: &str) -> Reply {
    exchange_with(stream, method, path, body, "").await
}

/// [`exchange`] with extra header lines (each ending in `\r\n`).
async fn exchange_with(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    body: &str,
    extra: &str,
) -> Reply {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed before a full response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .expect("content-length");
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let reply = exchange(&mut stream, method, path, body).await;
    assert_eq!(
        reply.header("x-updraft-instance"),
        Some("i-0123456789abcdef0"),
        "{method} {path}"
    );
    assert_eq!(
        reply.header("x-updraft-az"),
        Some("us-east-1c"),
        "{method} {path}"
    );
    reply
}

fn json(reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.header("content-type"), Some("application/json"));
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body))
}

#[tokio::test]
async fn every_route_answers_and_names_the_instance() {
    timeout(LIMIT, async {
        let app = App::start().await;
        let addr = app.addr;

        let health = call(addr, "GET", "/health", "").await;
        assert_eq!((health.status, health.body.as_str()), (200, "ok"));

        let page = call(addr, "GET", "/", "").await;
        assert_eq!(page.status, 200);
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.body.contains("<style>") && page.body.contains("MyLearning"));
        assert!(page.body.contains("i-0123456789abcdef0") && page.body.contains("us-east-1c"));

        let courses = json(&call(addr, "GET", "/api/courses", "").await);
        let list = courses.as_array().unwrap();
        assert!(list.len() >= 3);
        for field in ["id", "title", "level", "lessons"] {
            assert!(
                list.iter().all(|c| c.get(field).is_some()),
                "every course has `{field}`"
            );
        }
        let id = list[1]["id"].as_u64().unwrap();
        let one = call(addr, "GET", &format!("/api/courses/{id}"), "").await;
        assert_eq!(one.status, 200);
        assert_eq!(json(&one), list[1]);
        let missing = call(addr, "GET", "/api/courses/424242", "").await;
        assert_eq!(missing.status, 404);
        assert!(json(&missing)["error"].is_string());

        let graded = call(
            addr,
            "POST",
            "/api/quiz/grade",
            r#"{"answers":[1,0,0],"work":5}"#,
        )
        .await;
        assert_eq!(graded.status, 200, "{}", graded.body);
        let g = json(&graded);
        assert_eq!(
            (g["score"].as_u64(), g["total"].as_u64()),
            (Some(2), Some(10))
        );
        assert_eq!(g["checksum"].as_str().unwrap().len(), 16);
        assert_eq!(
            (g["instance"].as_str(), g["az"].as_str()),
            (Some("i-0123456789abcdef0"), Some("us-east-1c"))
        );
        let again = json(
            &call(
                addr,
                "POST",
                "/api/quiz/grade",
                r#"{"answers":[1,0,0],"work":5}"#,
            )
            .await,
        );
        assert_eq!(again["checksum"], g["checksum"], "grading is deterministic");

        let bad = call(addr, "POST", "/api/quiz/grade", "{not json").await;
        assert_eq!(bad.status, 400);
        assert!(
            json(&bad)["error"]
                .as_str()
                .unwrap()
                .contains("expected JSON")
        );
        let too_much = call(
            addr,
            "POST",
            "/api/quiz/grade",
            r#"{"answers":[],"work":5000}"#,
        )
        .await;
        assert_eq!(too_much.status, 400);

        for (method, path) in [
            ("GET", "/nope"),
            ("GET", "/api/quiz/grade"),
            ("POST", "/health"),
        ] {
            let reply = call(addr, method, path, "").await;
            assert_eq!(reply.status, 404, "{method} {path}");
            assert!(json(&reply)["error"].is_string());
        }

        app.sigterm_and_expect_clean_exit().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    timeout(LIMIT, async {
        let app = App::start().await;
        let addr = app.addr;
        let pid = Pid::from_raw(app.child.id().unwrap() as i32);

        // A kept-alive connection the server has surely accepted, then a slow request on it.
        let mut conn = TcpStream::connect(addr).await.unwrap();
        assert_eq!(exchange(&mut conn, "GET", "/health", "").await.status, 200);
        // work=250 is ≈0.25 s of CPU optimised, ≈1.4 s unoptimised: well inside the 5 s drain.
        let slow = tokio::spawn(async move {
            exchange(
                &mut conn,
                "POST",
                "/api/quiz/grade",
                r#"{"answers":[1],"work":250}"#,
            )
            .await
        });
        sleep(Duration::from_millis(100)).await;
        assert!(
            !slow.is_finished(),
            "the request must still be in flight when SIGTERM arrives"
        );
        kill(pid, Signal::SIGTERM).unwrap();

        let reply = slow.await.unwrap();
        assert_eq!(
            reply.status, 200,
            "the in-flight request finished: {}",
            reply.body
        );
        assert_eq!(json(&reply)["score"].as_u64(), Some(1));

        // New connections are refused once the listener is closed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "still accepting 10 s after SIGTERM"
            );
            sleep(Duration::from_millis(20)).await;
        }
        let mut child = app.child;
        let status = timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exit within 10 s")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}");
    })
    .await
    .unwrap();
}

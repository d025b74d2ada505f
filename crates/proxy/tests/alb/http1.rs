//! HTTP/1.1 through the balancer byte for byte: a raw client on one side, a raw scripted target
//! on the other. These pin the behaviour of whatever serves plain HTTP/1.1 (hyper today, a
//! hand-written fast path later): pipelining, keep-alive and pooling, every body framing,
//! bodiless responses, hop-by-hop and `X-Forwarded-*` headers, refusals, upstream failures,
//! hand-over to another framing mid-connection, `Expect: 100-continue`, idle timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use proxy::DataPlane;

use crate::support::raw::*;
use crate::support::*;

/// A balancer in front of `backend` alone, with this listener idle timeout; waits until the
/// backend is healthy.
pub(super) async fn through(
    backend: &ScriptedBackend,
    idle_timeout: Duration,
) -> (DataPlane, SocketAddr) {
    let mut s = single(&[], health_check(100));
    s.listeners[0].idle_timeout = idle_timeout;
    s.target_groups[0].targets.push(backend.target());
    let (plane, lb) = start(s).await;
    eventually("the raw target is healthy", || all_healthy(&plane)).await;
    (plane, lb)
}

const MINUTE: Duration = Duration::from_secs(60);

pub(super) fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\n\r\n").into_bytes()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: shop.example\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Asserts `r` is the target's 200 echo of `method path body`.
pub(super) fn assert_echo(r: &Message, method: &str, path: &str, body: &[u8]) {
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(r.text(), echoed(method, path, body), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let before = plane.target_group_counters()[0].clone();
        let mut c = RawClient::connect(lb).await;
        c.send(&[get("/one"), get("/two?x=2"), get("/three")].concat())
            .await;
        for path in ["/one", "/two?x=2", "/three"] {
            assert_echo(&c.response().await, "GET", path, b"");
        }
        let paths: Vec<String> = backend.requests().iter().map(|m| m.path().into()).collect();
        assert_eq!(paths, ["/one", "/two?x=2", "/three"]);
        let d = plane.target_group_counters()[0].since(&before);
        assert_eq!((d.requests, d.target_2xx), (3, 3));
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_many_requests_over_few_upstream_connections() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let before = plane.target_group_counters()[0].clone();
        let mut c = RawClient::connect(lb).await;
        for i in 0..100 {
            let path = format!("/item/{i}");
            assert_echo(&c.request(&get(&path)).await, "GET", &path, b"");
        }
        assert_eq!(backend.hits(), 100);
        // Connections go back to the pool when their response is done; a new one is opened
        // only when the previous one was not back yet.
        assert!(
            backend.connections() <= 10,
            "{} upstream connections for 100 sequential requests",
            backend.connections()
        );
        let d = plane.target_group_counters()[0].since(&before);
        assert_eq!((d.requests, d.target_2xx), (100, 100));
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_with_content_length_arrive_intact() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let small = b"0123456789".to_vec();
        let large = noise(2 * 1024 * 1024);
        for body in [&small, &large] {
            assert_echo(
                &c.request(&post("/upload", body)).await,
                "POST",
                "/upload",
                body,
            );
        }

        // The same body in slow pieces: the head, then three parts of the body.
        let slow = noise(30_000);
        let request = post("/slow-upload", &slow);
        let head_len = request.len() - slow.len();
        c.send(&request[..head_len]).await;
        for part in slow.chunks(10_000) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.send(part).await;
        }
        assert_echo(&c.response().await, "POST", "/slow-upload", &slow);

        let seen = backend.requests();
        assert_eq!(seen.len(), 3);
        for (m, body) in seen.iter().zip([&small, &large, &slow]) {
            assert_eq!(m.body.len(), body.len());
            assert!(m.body == *body, "the body changed on its way to the target");
        }
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_bodies_arrive_intact_in_every_framing() {
    bounded(async {
        let large = Arc::new(noise(2 * 1024 * 1024));
        let body = Arc::clone(&large);
        let backend = ScriptedBackend::start(move |req| match req.path() {
            "/small" => Reply::Send(response("200 OK", &[], b"hello")),
            "/large" => Reply::Send(response("200 OK", &[], &body)),
            "/chunked" => Reply::Send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n\
                  5\r\nhello\r\n1;ext=1\r\n \r\nc\r\nchunked worl\r\n1\r\nd\r\n0\r\n\
                  X-Checksum: abc\r\n\r\n"
                    .to_vec(),
            ),
            "/close" => Reply::SendAndClose(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".to_vec(),
            ),
            _ => echo(req),
        })
        .await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let r = c.request(&get("/small")).await;
        assert_eq!((r.status(), r.text().as_str()), (200, "hello"));
        let r = c.request(&get("/large")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.body.len(), large.len());
        assert!(r.body == *large, "the 2 MiB body changed on its way");
        let r = c.request(&get("/chunked")).await;
        // (Its trailer does not reach this client today, which did not send `TE: trailers`;
        // dropping trailers is allowed, so only the body is checked.)
        assert_eq!(
            (r.status(), r.text().as_str()),
            (200, "hello chunked world")
        );
        // The target closed its connection to end the body; the client's connection lives on.
        let r = c.request(&get("/close")).await;
        assert_eq!((r.status(), r.text().as_str()), (200, "until the end"));
        assert_echo(&c.request(&get("/after")).await, "GET", "/after", b"");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_204_and_304_have_no_body_and_the_connection_goes_on() {
    bounded(async {
        let backend = ScriptedBackend::start(|req| match req.path() {
            "/thing" => Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: yes\r\n\r\n".to_vec(),
            ),
            "/empty" => Reply::Send(b"HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n".to_vec()),
            "/cached" => Reply::Send(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n".to_vec()),
            _ => echo(req),
        })
        .await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        c.send(b"HEAD /thing HTTP/1.1\r\nHost: shop.example\r\n\r\n")
            .await;
        let r = c.response_to_head().await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("content-length"), Some("1234"), "{r:?}");
        assert_eq!(r.header("x-head"), Some("yes"));
        assert_echo(
            &c.request(&get("/after-head")).await,
            "GET",
            "/after-head",
            b"",
        );

        let r = c.request(&get("/empty")).await;
        assert_eq!((r.status(), r.header("x-empty")), (204, Some("yes")));
        assert_echo(
            &c.request(&get("/after-204")).await,
            "GET",
            "/after-204",
            b"",
        );

        let r = c.request(&get("/cached")).await;
        assert_eq!((r.status(), r.header("etag")), (304, Some("\"v1\"")));
        assert_echo(
            &c.request(&get("/after-304")).await,
            "GET",
            "/after-304",
            b"",
        );
        assert_eq!(backend.requests()[0].method(), "HEAD");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_from_the_client_gets_an_answer_then_a_close() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let r = c
            .request(b"GET /bye HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
            .await;
        assert_echo(&r, "GET", "/bye", b"");
        assert_eq!(r.header("connection"), Some("close"), "{r:?}");
        assert!(c.closed().await, "the balancer kept the connection open");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_removed_both_ways_on_a_kept_alive_connection() {
    bounded(async {
        let backend = ScriptedBackend::start(|req| match req.path() {
            "/hop" => Reply::Send(response(
                "200 OK",
                &[
                    ("Connection", "x-remove"),
                    ("X-Remove", "1"),
                    ("Keep-Alive", "5"),
                    ("X-Kept-Too", "yes"),
                ],
                b"hop",
            )),
            _ => echo(req),
        })
        .await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let r = c
            .request(
                b"GET /hop HTTP/1.1\r\nHost: shop.example\r\nConnection: x-custom\r\nX-Custom: 1\r\n\
                  Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nX-Kept: yes\r\n\r\n",
            )
            .await;
        assert_eq!((r.status(), r.text().as_str()), (200, "hop"));
        for gone in ["x-remove", "keep-alive"] {
            assert_eq!(r.header(gone), None, "{gone} reached the client: {r:?}");
        }
        assert!(
            r.all("connection").iter().all(|v| !v.contains("x-remove")),
            "{r:?}"
        );
        assert_eq!(r.header("x-kept-too"), Some("yes"));

        let seen = &backend.requests()[0];
        for gone in ["connection", "x-custom", "keep-alive", "proxy-connection"] {
            assert_eq!(seen.header(gone), None, "{gone} reached the target: {seen:?}");
        }
        assert_eq!(seen.header("x-kept"), Some("yes"));
        assert_eq!(seen.header("host"), Some("shop.example"));
        // The client's connection stays open for the next request.
        assert_echo(&c.request(&get("/next")).await, "GET", "/next", b"");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_headers_and_the_trace_id_reach_the_target() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        c.request(
            b"GET /a HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.9\r\n\
              X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\r\n",
        )
        .await;
        c.request(&get("/b")).await;
        c.request(
            b"GET /c HTTP/1.1\r\nHost: shop.example\r\n\
              X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n",
        )
        .await;
        let seen = backend.requests();
        let port = lb.port().to_string();
        assert_eq!(
            seen[0].all("x-forwarded-for"),
            ["203.0.113.9, 127.0.0.1"],
            "appended to the client's"
        );
        assert_eq!(seen[1].all("x-forwarded-for"), ["127.0.0.1"]);
        let mut ids = Vec::new();
        for m in &seen[..2] {
            assert_eq!(m.all("x-forwarded-proto"), ["http"], "{m:?}");
            assert_eq!(m.all("x-forwarded-port"), [port.as_str()], "{m:?}");
            // ALB's request id: Root=1-<8 hex>-<24 hex>.
            let id = m.header("x-amzn-trace-id").expect("a trace id");
            let parts: Vec<&str> = id
                .strip_prefix("Root=1-")
                .unwrap_or("")
                .split('-')
                .collect();
            assert!(
                parts.len() == 2 && parts[0].len() == 8 && parts[1].len() == 24,
                "{id}"
            );
            ids.push(id.to_owned());
        }
        assert_ne!(ids[0], ids[1], "every request gets its own id");
        // A client's Root is kept, with the balancer's id added as Self.
        let id = seen[2].header("x-amzn-trace-id").unwrap();
        let (own, root) = id.split_once(';').unwrap_or_default();
        assert_eq!(root, "Root=1-5759e988-bd862e3fe1be46a994272793", "{id}");
        assert!(
            own.starts_with("Self=1-") && own.len() == 7 + 8 + 1 + 24,
            "{id}"
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused_before_the_target() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70 * 1024)
        );
        c.send(big.as_bytes()).await;
        let answer = c.rest().await;
        // hyper answers 431 Request Header Fields Too Large today; ALB answers 4xx as well.
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer:?}");
        assert_eq!(
            backend.hits(),
            0,
            "the oversized request reached the target"
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_answered_400_and_not_forwarded() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let vectors: [&[u8]; 4] = [
            b"GET\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\xff\xfe\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost shop.example\r\n\r\n",
            b"GET /a b HTTP/1.1\r\nHost: shop.example\r\n\r\n",
        ];
        for v in vectors {
            let mut c = RawClient::connect(lb).await;
            c.send(v).await;
            let answer = c.rest().await;
            assert!(
                answer.starts_with("HTTP/1.1 400"),
                "{:?} got {answer:?}",
                String::from_utf8_lossy(v)
            );
        }
        assert_eq!(backend.hits(), 0, "a malformed request reached the target");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

/// Asserts `r` is the balancer's own error page with this status.
fn assert_elb_error(r: &Message, status: u16, title: &str) {
    assert_eq!(r.status(), status, "{r:?}");
    assert_eq!(r.header("server"), Some("updraft"), "{r:?}");
    assert!(
        r.text().contains(&format!("<title>{title}</title>")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_closes_without_answering_gets_502() {
    bounded(async {
        let backend = ScriptedBackend::start(|req| match req.path() {
            "/drop" => Reply::Close,
            _ => echo(req),
        })
        .await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        assert_echo(&c.request(&get("/ok")).await, "GET", "/ok", b"");
        let r = c.request(&get("/drop")).await;
        assert_elb_error(&r, 502, "502 Bad Gateway");
        let r = c.request(&post("/drop", b"payload")).await;
        assert_elb_error(&r, 502, "502 Bad Gateway");
        // The client's connection survives the target's failure.
        assert_echo(&c.request(&get("/ok")).await, "GET", "/ok", b"");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_on_the_target_port_gets_502() {
    bounded(async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let mut s = single(&[], health_check(100));
        s.target_groups[0].targets.push(proxy::TargetConfig {
            id: "gone".into(),
            addr,
            availability_zone: None,
            draining: false,
        });
        // The only target is unhealthy; ALB fails open and tries it anyway.
        let (plane, lb) = start(s).await;
        let mut c = RawClient::connect(lb).await;
        for path in ["/first", "/second"] {
            assert_elb_error(&c.request(&get(path)).await, 502, "502 Bad Gateway");
        }
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_slower_than_the_idle_timeout_gets_504() {
    bounded(async {
        let backend = ScriptedBackend::start(|_| Reply::Hang).await;
        let (plane, lb) = through(&backend, Duration::from_millis(500)).await;
        let mut c = RawClient::connect(lb).await;
        let r = c.request(&get("/hang")).await;
        assert_elb_error(&r, 504, "504 Gateway Time-out");
        assert_eq!(backend.hits(), 1);
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_between_plain_ones_on_one_connection() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let chunked: &[u8] = b"POST /chunked HTTP/1.1\r\nHost: shop.example\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=x\r\n world\r\n0\r\n\r\n";
        let mut c = RawClient::connect(lb).await;
        // One by one, then all three in one write.
        for round in 0..2 {
            let (first, last) = (format!("/first/{round}"), format!("/last/{round}"));
            if round == 0 {
                assert_echo(&c.request(&get(&first)).await, "GET", &first, b"");
                let r = c.request(chunked).await;
                assert_echo(&r, "POST", "/chunked", b"hello world");
                assert_echo(&c.request(&get(&last)).await, "GET", &last, b"");
            } else {
                c.send(&[get(&first), chunked.to_vec(), get(&last)].concat())
                    .await;
                assert_echo(&c.response().await, "GET", &first, b"");
                assert_echo(&c.response().await, "POST", "/chunked", b"hello world");
                assert_echo(&c.response().await, "GET", &last, b"");
            }
        }
        let seen = backend.requests();
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[1].body, b"hello world");
        assert_eq!(seen[4].body, b"hello world");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_gets_continue_then_the_answer() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        c.send(
            b"POST /expect HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 11\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .await;
        // The target sends its own `100 Continue` too: the client sees exactly one.
        let r = c.response().await;
        assert_eq!(r.status(), 100, "{r:?}");
        c.send(b"hello world").await;
        assert_echo(&c.response().await, "POST", "/expect", b"hello world");
        assert_echo(&c.request(&get("/next")).await, "GET", "/next", b"");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_targets_status_line_and_headers_are_kept() {
    bounded(async {
        let backend = ScriptedBackend::start(|_| {
            Reply::Send(response(
                "201 Made It",
                &[
                    ("X-Backend-Thing", "abc"),
                    ("Set-Cookie", "a=1; Path=/"),
                    ("Set-Cookie", "b=2; HttpOnly"),
                    ("Content-Type", "text/plain"),
                ],
                b"created",
            ))
        })
        .await;
        let (plane, lb) = through(&backend, MINUTE).await;
        let mut c = RawClient::connect(lb).await;
        let r = c.request(&post("/things", b"{}")).await;
        assert_eq!(r.start, "HTTP/1.1 201 Made It");
        assert_eq!(r.header("x-backend-thing"), Some("abc"));
        assert_eq!(r.all("set-cookie"), ["a=1; Path=/", "b=2; HttpOnly"]);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.text(), "created");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_connections_are_closed_after_the_idle_timeout() {
    bounded(async {
        let backend = ScriptedBackend::echo().await;
        let (plane, lb) = through(&backend, Duration::from_secs(1)).await;
        // After a request ...
        let mut c = RawClient::connect(lb).await;
        assert_echo(&c.request(&get("/once")).await, "GET", "/once", b"");
        // ... and without any.
        let mut silent = RawClient::connect(lb).await;
        assert!(c.closed().await, "an idle connection stayed open");
        assert!(silent.closed().await, "a silent connection stayed open");
        assert_eq!(backend.hits(), 1);
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

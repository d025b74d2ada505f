//! Protocols through the balancer: WebSocket upgrades, gRPC over HTTP/2 end to end, and
//! request-smuggling vectors that must be refused before anything reaches a target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::ProtocolVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// An HTTP/1.1 server that accepts any upgrade and then echoes every byte back.
async fn echo_upgrade_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|mut req: Request<hyper::body::Incoming>| async move {
                    if req.uri().path() == "/health" {
                        return Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())));
                    }
                    let on = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        if let Ok(up) = on.await {
                            let mut io = TokioIo::new(up);
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = io.read(&mut buf).await {
                                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    });
                    Ok(Response::builder()
                        .status(StatusCode::SWITCHING_PROTOCOLS)
                        .header("upgrade", "websocket")
                        .header("connection", "upgrade")
                        .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                        .body(Full::new(Bytes::new()))
                        .unwrap())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_echoes_through_the_balancer() {
    bounded(async {
        let backend = echo_upgrade_server().await;
        let target = proxy::TargetConfig {
            id: "ws".into(),
            addr: backend,
            availability_zone: None,
            draining: false,
        };
        let mut s = single(&[], health_check(100));
        s.target_groups[0].targets.push(target);
        let (plane, lb) = start(s).await;
        eventually("healthy", || all_healthy(&plane)).await;

        let mut c = websocket_handshake(lb).await;
        for _ in 0..3 {
            echo_frame(&mut c).await;
        }
        // While the tunnel is open the request counts as in flight (draining waits for it).
        assert_eq!(plane.target_health()[0].in_flight, 1);
        drop(c);
        eventually("tunnel closed", || plane.target_health()[0].in_flight == 0).await;
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

/// Opens a WebSocket through the balancer at `lb` and checks the 101 handshake.
async fn websocket_handshake(lb: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(lb).await.unwrap();
    c.write_all(
        b"GET /chat HTTP/1.1\r\nHost: chat.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            c.read(&mut byte).await.unwrap(),
            1,
            "closed during the handshake"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    c
}

/// Sends a masked WebSocket text frame "hello": the bytes come back unchanged.
async fn echo_frame(c: &mut TcpStream) {
    let frame = [
        0x81u8,
        0x85,
        1,
        2,
        3,
        4,
        b'h' ^ 1,
        b'e' ^ 2,
        b'l' ^ 3,
        b'l' ^ 4,
        b'o' ^ 1,
    ];
    c.write_all(&frame).await.unwrap();
    let mut back = [0u8; 11];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(back, frame);
}

/// Waits (bounded) until the balancer closes `c`: end of stream or a reset.
async fn closed_by_balancer(c: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), c.read(&mut buf))
        .await
        .expect("the balancer did not close the tunnel within 30 s");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the tunnel closed, read {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_its_targets_deregistration_delay_ends() {
    bounded(async {
        let backend = echo_upgrade_server().await;
        let target = proxy::TargetConfig {
            id: "ws".into(),
            addr: backend,
            availability_zone: None,
            draining: false,
        };
        let mut s = single(&[], health_check(100));
        s.target_groups[0].spec.deregistration_delay = Duration::from_secs(2);
        s.target_groups[0].targets.push(target);
        let (plane, lb) = start(s.clone()).await;
        eventually("healthy", || all_healthy(&plane)).await;

        // 1. The target drains: the open tunnel goes on working (it is in flight) ...
        let mut c = websocket_handshake(lb).await;
        echo_frame(&mut c).await;
        let mut draining = s.clone();
        draining.target_groups[0].targets[0].draining = true;
        plane.apply(draining.clone()).await.unwrap();
        echo_frame(&mut c).await;
        assert_eq!(plane.target_health()[0].in_flight, 1);
        // ... until the deregistration delay (2 s) is over: then the balancer closes it.
        closed_by_balancer(&mut c).await;
        eventually("tunnel released", || {
            plane.target_health()[0].in_flight == 0
        })
        .await;

        // 2. Back in service, a new tunnel; the target is removed from the configuration
        // without draining first: the data plane drains it itself, then closes the tunnel.
        plane.apply(s.clone()).await.unwrap();
        eventually("healthy again", || all_healthy(&plane)).await;
        let mut c = websocket_handshake(lb).await;
        echo_frame(&mut c).await;
        let mut removed = s.clone();
        removed.target_groups[0].targets.clear();
        plane.apply(removed.clone()).await.unwrap();
        echo_frame(&mut c).await;
        closed_by_balancer(&mut c).await;

        // 3. A target that was draining and then leaves the configuration is done at once.
        plane.apply(s.clone()).await.unwrap();
        eventually("healthy once more", || all_healthy(&plane)).await;
        let mut c = websocket_handshake(lb).await;
        echo_frame(&mut c).await;
        let mut long = draining.clone();
        long.target_groups[0].spec.deregistration_delay = Duration::from_secs(3600);
        plane.apply(long).await.unwrap();
        echo_frame(&mut c).await;
        plane.apply(removed).await.unwrap();
        closed_by_balancer(&mut c).await;
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

/// A gRPC-style HTTP/2 (h2c) server: answers `/echo.Echo/Say` with the request's message
/// reversed, in gRPC framing, and `grpc-status: 0` trailers.
async fn grpc_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    assert_eq!(req.version(), http::Version::HTTP_2);
                    let path = req.uri().path().to_owned();
                    let te = req.headers().get("te").cloned();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let (status, reply) = if path == "/echo.Echo/Say" && te.is_some() {
                        let mut msg = body.slice(5..).to_vec();
                        msg.reverse();
                        ("0", msg)
                    } else {
                        // UNIMPLEMENTED, as gRPC answers ALB's health check path.
                        ("12", Vec::new())
                    };
                    let mut framed = vec![0u8];
                    framed.extend_from_slice(&(reply.len() as u32).to_be_bytes());
                    framed.extend_from_slice(&reply);
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", status.parse().unwrap());
                    let body = http_body_util::StreamBody::new(futures_stream(framed, trailers));
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Data then trailers, as a stream of frames.
fn futures_stream(
    data: Vec<u8>,
    trailers: http::HeaderMap,
) -> impl futures_core::Stream<Item = Result<hyper::body::Frame<Bytes>, Infallible>> {
    let frames = vec![
        Ok(hyper::body::Frame::data(Bytes::from(data))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    tokio_stream_iter(frames)
}

fn tokio_stream_iter<T: Unpin>(items: Vec<T>) -> impl futures_core::Stream<Item = T> + Unpin {
    struct Iter<T>(std::vec::IntoIter<T>);
    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_round_trip_over_http2_end_to_end() {
    bounded(async {
        let backend = grpc_server().await;
        // ALB's gRPC health check defaults: an HTTP/2 POST to `/AWS.ALB/healthcheck`, which
        // a gRPC server that is up answers with status 12 (UNIMPLEMENTED), the default matcher.
        let hc = model::HealthCheck {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            ..model::HealthCheck::for_version(ProtocolVersion::Grpc)
        };
        let mut s = single(&[], hc);
        s.target_groups[0].spec.protocol_version = ProtocolVersion::Grpc;
        s.target_groups[0].targets.push(proxy::TargetConfig {
            id: "grpc".into(),
            addr: backend,
            availability_zone: None,
            draining: false,
        });
        let (plane, lb) = start(s).await;
        eventually("the gRPC target passes its gRPC health check", || {
            all_healthy(&plane)
        })
        .await;

        let stream = TcpStream::connect(lb).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        for word in ["hello", "updraft"] {
            let mut framed = vec![0u8];
            framed.extend_from_slice(&(word.len() as u32).to_be_bytes());
            framed.extend_from_slice(word.as_bytes());
            let req = Request::post(format!("http://{lb}/echo.Echo/Say"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Full::new(Bytes::from(framed)))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()["content-type"], "application/grpc");
            let collected = resp.into_body().collect().await.unwrap();
            let trailers = collected.trailers().cloned().expect("gRPC trailers");
            assert_eq!(trailers["grpc-status"], "0");
            let mut body = collected.to_bytes();
            assert_eq!(body.get_u8(), 0, "uncompressed message");
            let len = body.get_u32() as usize;
            let reversed: String = word.chars().rev().collect();
            assert_eq!(&body[..len], reversed.as_bytes());
        }
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

/// Sends raw bytes and returns what came back until the balancer closed or 2 s passed.
async fn raw(lb: SocketAddr, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(lb).await.unwrap();
    c.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_vectors_are_refused_and_never_reach_a_target() {
    bounded(async {
        let a = Backend::start("a").await;
        let (plane, lb) = start(single(&[&a], health_check(100))).await;
        eventually("healthy", || all_healthy(&plane)).await;
        let hits = Arc::new(AtomicUsize::new(a.hits()));
        let vectors: [&[u8]; 5] = [
            // Two different lengths.
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            // Transfer-Encoding that does not end in chunked.
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            // Obfuscated Transfer-Encoding.
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            // Header folding (obs-fold).
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
            // A bare LF line ending inside the head followed by a smuggled request.
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0x1\r\n\r\n",
        ];
        for v in vectors {
            let answer = raw(lb, v).await;
            assert!(
                answer.starts_with("HTTP/1.1 400"),
                "not refused with 400: {:?}\nanswer: {answer:?}",
                String::from_utf8_lossy(v)
            );
        }
        assert_eq!(a.hits(), hits.load(Ordering::Relaxed), "a vector reached the target");

        // CL.TE and TE.CL, in either header order and after an ordinary request on the same
        // connection: 400 and closed before anything is forwarded (ALB `strictest`).
        for v in [
            &b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /x HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n"[..],
        ] {
            let before = a.hits();
            let pipelined_ok = v.starts_with(b"GET /ok");
            let answer = raw(lb, v).await;
            let answers: Vec<&str> = answer.matches("HTTP/1.1 ").collect();
            assert_eq!(answers.len(), 1 + usize::from(pipelined_ok), "{answer:?}");
            assert!(answer.contains("HTTP/1.1 400"), "{answer:?}");
            assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer:?}");
            assert_eq!(
                a.hits(),
                before + usize::from(pipelined_ok),
                "the doubly framed request reached the target: {:?}",
                String::from_utf8_lossy(v)
            );
        }

        // A head over ALB's 64 KiB: refused with 431 before routing.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70 * 1024)
        );
        let before = a.hits();
        let answer = raw(lb, big.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{:?}", &answer[..answer.len().min(80)]);
        assert_eq!(a.hits(), before);

        // Bad chunking that arrives with the head: 400, never forwarded.
        let before = a.hits();
        let answer = raw(
            lb,
            b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer:?}");
        assert_eq!(a.hits(), before, "a badly chunked request reached the target");

        // Bad chunking that arrives after the head went on: the body ends there (400 to the
        // client), the target never gets a complete request, and nothing after the bad chunk
        // becomes a request.
        let mut c = TcpStream::connect(lb).await.unwrap();
        // (`/slow?3000`: the target answers only after 3 s, so any answer comes from the balancer.)
        c.write_all(b"POST /slow?3000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .await
            .unwrap();
        eventually("the head was forwarded", || a.hits() == before + 1).await;
        c.write_all(b"zz\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
        let answer = String::from_utf8_lossy(&out);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        assert_eq!(a.hits(), before + 1, "bytes after a bad chunk became a request");
        let before = a.hits();
        let seen = spread(lb, 3).await;
        assert_eq!(seen.get("a"), Some(&3));
        assert_eq!(a.hits(), before + 3, "no smuggled request reached the target");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

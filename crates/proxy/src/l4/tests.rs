//! The TCP endpoints on real loopback sockets.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A server that answers every line with `name:` and the line.
async fn echo(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut out = format!("{name}:").into_bytes();
                    out.extend_from_slice(&buf[..n]);
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn ask(s: &mut TcpStream, what: &str) -> String {
    s.write_all(what.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn startup_message() -> Vec<u8> {
    let body = b"user\0app\0database\0app\0\0";
    let mut m = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    m.extend(196_608u32.to_be_bytes());
    m.extend(body);
    m
}

#[tokio::test]
async fn without_a_target_connections_are_refused_with_the_reason() {
    let eps = TcpEndpoints::new();
    let addr = eps
        .bind("writer", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    eps.route(
        "writer",
        &[],
        "no writable primary: failover in progress",
        true,
    );
    let mut c = TcpStream::connect(addr).await.unwrap();
    // An SSL request first, as libpq sends by default: answered N.
    c.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).await.unwrap();
    let mut n = [0u8; 1];
    c.read_exact(&mut n).await.unwrap();
    assert_eq!(&n, b"N");
    c.write_all(&startup_message()).await.unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer[0], b'E');
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("57P03"), "{text}");
    assert!(
        text.contains("updraft: no writable primary: failover in progress"),
        "{text}"
    );
    assert_eq!(eps.stats("writer").unwrap().refused, 1);
}

#[tokio::test]
async fn routes_switch_and_cut_connections_to_the_old_target() {
    let a = echo("a").await;
    let b = echo("b").await;
    let eps = TcpEndpoints::new();
    let addr = eps
        .bind("writer", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    eps.route("writer", &[("a".into(), a)], "", true);
    let mut old = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut old, "x").await, "a:x");
    eps.route("writer", &[("b".into(), b)], "", true);
    // The connection to a is cut…
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), old.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // …and new ones reach b.
    let mut new = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut new, "y").await, "b:y");
    // Re-routing to the same target keeps its connections.
    eps.route("writer", &[("b".into(), b)], "", true);
    assert_eq!(ask(&mut new, "z").await, "b:z");
}

#[tokio::test]
async fn readers_are_balanced_and_kept_on_reroute() {
    let a = echo("a").await;
    let b = echo("b").await;
    let eps = TcpEndpoints::new();
    let addr = eps
        .bind("reader", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    eps.route("reader", &[("a".into(), a), ("b".into(), b)], "", false);
    let mut seen = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        seen.push(ask(&mut c, "q").await);
        conns.push(c);
    }
    seen.sort();
    assert_eq!(seen, ["a:q", "a:q", "b:q", "b:q"]);
    // b leaves the pool without cutting: its connections go on.
    eps.route("reader", &[("a".into(), a)], "", false);
    for c in &mut conns {
        let r = ask(c, "r").await;
        assert!(r == "a:r" || r == "b:r");
    }
}

#[tokio::test]
async fn a_dead_target_is_skipped() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let a = echo("a").await;
    let eps = TcpEndpoints::new();
    let addr = eps
        .bind("reader", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    eps.route(
        "reader",
        &[("dead".into(), dead), ("a".into(), a)],
        "",
        false,
    );
    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert_eq!(ask(&mut c, "q").await, "a:q");
    }
    eps.remove("reader");
    assert!(eps.addrs().is_empty());
}

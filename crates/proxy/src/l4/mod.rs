//! Layer-4 (TCP) endpoints: the database cluster's writer and reader endpoints.
//!
//! Each endpoint is a bound listener whose targets come from an `ArcSwap`ped table: a
//! connection picks a target (round robin), connects, and splices bytes both ways. Changing
//! the table never waits for connections, and the control plane never waits for the data
//! plane. When a table has no target, connections are refused *with a reason*: the endpoint
//! answers the client's PostgreSQL startup message with a `FATAL` error (SQLSTATE `57P03`)
//! naming why there is no primary. A route change can **cut** every connection to a target
//! that is no longer routed — the writer endpoint does that, so no client keeps writing to a
//! fenced primary.
//!
//! This module is self-contained: the server drives it through [`TcpEndpoints`] next to the
//! L7 [`crate::DataPlane`].

pub mod startup;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a client may take to send its startup message before a refusal closes it.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Connecting to a target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One routed target.
struct Target {
    id: String,
    addr: SocketAddr,
    /// Turns true when the target is cut: its connections close.
    cut: watch::Sender<bool>,
}

#[derive(Default)]
struct Table {
    targets: Vec<Arc<Target>>,
    refusal: String,
}

struct Endpoint {
    local_addr: SocketAddr,
    table: Arc<ArcSwap<Table>>,
    accept: JoinHandle<()>,
    stats: Arc<Stats>,
}

/// Counters of one endpoint.
#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    refused: AtomicU64,
    active: AtomicU64,
    next: AtomicUsize,
}

/// An endpoint's counters, as `updraft status` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    pub accepted: u64,
    pub refused: u64,
    pub active: u64,
}

/// The TCP endpoints of the data plane. Cloning gives another handle to the same ones.
#[derive(Clone, Default)]
pub struct TcpEndpoints {
    endpoints: Arc<Mutex<HashMap<String, Endpoint>>>,
}

impl std::fmt::Debug for TcpEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpEndpoints").finish_non_exhaustive()
    }
}

impl TcpEndpoints {
    pub fn new() -> TcpEndpoints {
        TcpEndpoints::default()
    }

    /// Binds endpoint `key` at `addr` (refusing every connection until it is routed). A key
    /// already bound there is kept as it is.
    pub async fn bind(&self, key: &str, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        if let Some(e) = self.endpoints.lock().expect("not poisoned").get(key)
            && (e.local_addr == addr || addr.port() == 0)
        {
            return Ok(e.local_addr);
        }
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        let local_addr = listener.local_addr()?;
        let table = Arc::new(ArcSwap::from_pointee(Table {
            targets: vec![],
            refusal: "the endpoint is starting".into(),
        }));
        let stats = Arc::new(Stats::default());
        let accept = tokio::spawn(accept_loop(listener, table.clone(), stats.clone()));
        let old = self.endpoints.lock().expect("not poisoned").insert(
            key.to_owned(),
            Endpoint {
                local_addr,
                table,
                accept,
                stats,
            },
        );
        if let Some(old) = old {
            old.close();
        }
        tracing::info!(endpoint = key, addr = %local_addr, "TCP endpoint listening");
        Ok(local_addr)
    }

    /// Routes endpoint `key` to `targets` (`(id, address)`), or refuses connections with
    /// `refusal` when there are none. With `cut_others`, connections to targets not routed any
    /// more are closed now. Never waits for connections.
    pub fn route(
        &self,
        key: &str,
        targets: &[(String, SocketAddr)],
        refusal: &str,
        cut_others: bool,
    ) {
        let endpoints = self.endpoints.lock().expect("not poisoned");
        let Some(e) = endpoints.get(key) else {
            return;
        };
        let old = e.table.load_full();
        let next: Vec<Arc<Target>> = targets
            .iter()
            .map(|(id, addr)| {
                old.targets
                    .iter()
                    .find(|t| t.id == *id && t.addr == *addr)
                    .cloned()
                    .unwrap_or_else(|| {
                        Arc::new(Target {
                            id: id.clone(),
                            addr: *addr,
                            cut: watch::channel(false).0,
                        })
                    })
            })
            .collect();
        e.table.store(Arc::new(Table {
            targets: next.clone(),
            refusal: refusal.to_owned(),
        }));
        if cut_others {
            for t in old
                .targets
                .iter()
                .filter(|t| !next.iter().any(|n| Arc::ptr_eq(n, t)))
            {
                let _ = t.cut.send(true);
                tracing::info!(endpoint = key, target = %t.id, "connections to a target no longer routed are cut");
            }
        }
    }

    /// Stops endpoint `key`: its listener closes and its connections are cut.
    pub fn remove(&self, key: &str) {
        if let Some(e) = self.endpoints.lock().expect("not poisoned").remove(key) {
            e.close();
        }
    }

    /// Stops every endpoint.
    pub fn shutdown(&self) {
        for (_, e) in self.endpoints.lock().expect("not poisoned").drain() {
            e.close();
        }
    }

    /// Where each endpoint listens.
    pub fn addrs(&self) -> Vec<(String, SocketAddr)> {
        let mut v: Vec<_> = self
            .endpoints
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(k, e)| (k.clone(), e.local_addr))
            .collect();
        v.sort();
        v
    }

    /// Counters of endpoint `key`.
    pub fn stats(&self, key: &str) -> Option<EndpointStats> {
        let endpoints = self.endpoints.lock().expect("not poisoned");
        let s = &endpoints.get(key)?.stats;
        Some(EndpointStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            active: s.active.load(Ordering::Relaxed),
        })
    }
}

impl Endpoint {
    fn close(self) {
        self.accept.abort();
        for t in &self.table.load().targets {
            let _ = t.cut.send(true);
        }
    }
}

async fn accept_loop(listener: TcpListener, table: Arc<ArcSwap<Table>>, stats: Arc<Stats>) {
    loop {
        let (client, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "TCP endpoint accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let table = table.load_full();
        let stats = stats.clone();
        tokio::spawn(async move { serve(client, table, stats).await });
    }
}

async fn serve(mut client: TcpStream, table: Arc<Table>, stats: Arc<Stats>) {
    let n = table.targets.len();
    let start = stats.next.fetch_add(1, Ordering::Relaxed);
    let mut last_error = String::new();
    for i in 0..n {
        let target = &table.targets[(start + i) % n];
        if *target.cut.borrow() {
            continue;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr)).await {
            Ok(Ok(upstream)) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                stats.active.fetch_add(1, Ordering::Relaxed);
                splice(client, upstream, target.cut.subscribe()).await;
                stats.active.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            Ok(Err(e)) => last_error = format!("{} ({}): {e}", target.id, target.addr),
            Err(_) => last_error = format!("{} ({}): connect timed out", target.id, target.addr),
        }
    }
    stats.refused.fetch_add(1, Ordering::Relaxed);
    let reason = if n == 0 {
        table.refusal.clone()
    } else {
        format!("no target of this endpoint accepts connections: {last_error}")
    };
    refuse(&mut client, &reason).await;
}

/// Copies both ways until either side closes or the target is cut.
async fn splice(mut client: TcpStream, mut upstream: TcpStream, mut cut: watch::Receiver<bool>) {
    let cut_now = async {
        loop {
            if *cut.borrow_and_update() {
                return;
            }
            if cut.changed().await.is_err() {
                // The target's table is gone without a cut: keep the connection.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        // Dropping both sockets closes them: the client sees the connection end.
        _ = cut_now => {}
    }
}

/// Reads the client's first message and answers it with a PostgreSQL error saying `reason`.
async fn refuse(client: &mut TcpStream, reason: &str) {
    let message = format!("updraft: {reason}");
    let answer = async {
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 1024];
        loop {
            match startup::classify(&buf) {
                startup::First::NeedMore => {}
                startup::First::EncryptionRequest { len } => {
                    client.write_all(b"N").await?;
                    buf.drain(..len);
                    continue;
                }
                startup::First::Startup { .. } => {
                    client
                        .write_all(&startup::error_response("57P03", &message))
                        .await?;
                    client.flush().await?;
                    return Ok::<(), std::io::Error>(());
                }
                startup::First::Cancel | startup::First::Invalid => return Ok(()),
            }
            let n = client.read(&mut chunk).await?;
            if n == 0 || buf.len() + n > startup::MAX_STARTUP {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let _ = tokio::time::timeout(STARTUP_TIMEOUT, answer).await;
}

#[cfg(test)]
mod tests;

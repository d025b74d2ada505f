//! MyLearning: the reference web application updraft scales. A stateless course catalogue with a
//! CPU-heavy quiz grader, so that load becomes CPU use an auto scaling policy can act on.
//!
//! Configuration comes from the environment an updraft instance gets: `HOST` and `PORT`
//! (default `127.0.0.1:8080`; port 0 picks a free port, printed at startup), `UPDRAFT_INSTANCE_ID`
//! and `UPDRAFT_AZ`; the database endpoints `UPDRAFT_DB_WRITER` / `UPDRAFT_DB_READER` (with
//! `UPDRAFT_DB_NAME`, `UPDRAFT_DB_USER`, `UPDRAFT_DB_PASSWORD`) when the stack has a database —
//! in memory otherwise; `MYLEARNING_SESSION_SECRET`, shared by every instance, to sign session
//! cookies. On SIGTERM (or SIGINT) it stops accepting, lets in-flight requests finish (at most
//! [`DRAIN`]) and exits 0: what a deregistration delay expects of a target.

mod assets;
mod catalogue;
mod grade;
mod pacer;
mod pg;
mod routes;
mod session;
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;

use routes::{App, Identity};
use session::Sessions;
use store::Store;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // One async worker is plenty (the instance is CPU-limited); grading runs on the
        // blocking pool, bounded so overload queues instead of spawning without end.
        .worker_threads(1)
        .max_blocking_threads(16)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => Err(format!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mylearning: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let host = var("HOST", "127.0.0.1");
    let port = var("PORT", "8080");
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("HOST={host} PORT={port} is not an address to listen on ({e})"))?;
    let env = |name: &str| std::env::var(name).ok();
    let store = match pg::PgSettings::from_env(env)? {
        Some(settings) => Store::Postgres(Box::new(pg::PgStore::new(&settings))),
        None => Store::memory(),
    };
    let secret = env("MYLEARNING_SESSION_SECRET").filter(|s| !s.is_empty());
    let app = Arc::new(App {
        id: Identity {
            instance: var("UPDRAFT_INSTANCE_ID", "local"),
            az: var("UPDRAFT_AZ", "local"),
        },
        store,
        sessions: Sessions::new(secret.as_deref().unwrap_or(session::DEV_SECRET)),
        pacer: pacer::Pacer::from_env(env("MYLEARNING_CPU_MILLICORES").as_deref())?,
    });
    let id = &app.id;

    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "mylearning listening on http://{local} as instance {} in {} (pid {}); data {}{}",
        id.instance,
        id.az,
        std::process::id(),
        app.store.describe(),
        app.pacer.as_ref().map_or(String::new(), |p| format!(
            "; grading paced to {} millicores",
            p.millicores()
        ))
    );
    // After the listening line, which tools read first.
    if secret.is_none() {
        eprintln!(
            "mylearning: MYLEARNING_SESSION_SECRET is not set; session cookies are signed with a development secret"
        );
    }
    if let Store::Postgres(pg) = &app.store {
        // Create the schema now if the database is there; if not, the first request retries.
        if let Err(e) = pg.ensure_schema().await {
            eprintln!("mylearning: database not ready yet ({e}); will retry on first use");
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve(stream, Arc::clone(&app), shutdown_rx.clone()));
                }
                // A full accept queue or fd limit is transient; the next accept may succeed.
                Err(e) => eprintln!("mylearning: accept failed: {e}"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    let _ = shutdown_tx.send(true);
    let in_flight = connections.len();
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => eprintln!("mylearning: stopped ({in_flight} connections drained)"),
        Err(_) => eprintln!(
            "mylearning: stopped; {} connections still busy after {DRAIN:?} were closed",
            connections.len()
        ),
    }
    Ok(())
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it closes or shutdown asks it to finish.
async fn serve(stream: tokio::net::TcpStream, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, std::convert::Infallible>(routes::handle(req, &app, now()).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    // Finish the request in flight, then close instead of keeping the connection alive.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Wall time in seconds: the app's one clock read (sessions expire, enrolments are dated).
#[allow(clippy::disallowed_methods)] // the app is not updraft's control plane: its own clock
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

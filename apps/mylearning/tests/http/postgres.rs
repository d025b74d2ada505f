//! MyLearning on a real PostgreSQL started by the test (Debian's postgresql-15 binaries, as the
//! `postgres` user when the test runs as root): schema created idempotently by instances that
//! start together, the catalogue read through the reader endpoint, sessions that any instance
//! honours, enrolments and attempts written through the writer — and a database outage that
//! costs 503s on data routes but never `/health`, with reconnection when it is back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use super::{App, Reply, exchange_with, json};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway PostgreSQL cluster on a loopback port; stopped and removed on drop.
struct Postgres {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Postgres {
    /// `None` (and a note) when PostgreSQL is not installed here.
    async fn start() -> Option<Postgres> {
        if !Path::new(BIN).join("postgres").is_file() {
            eprintln!("skipped: PostgreSQL 15 is not installed (Debian package postgresql)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("mylearning-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if nix::unistd::geteuid().is_root() {
            let pg = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("a postgres user (created by the postgresql package)");
            nix::unistd::chown(&dir, Some(pg.uid), Some(pg.gid)).unwrap();
        }
        let data = dir.join("data");
        let out = as_postgres(&format!("{BIN}/initdb"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ])
            .stdout(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            dir,
            port,
            child: None,
        };
        pg.run().await;
        let out = as_postgres(&format!("{BIN}/psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-c",
                "CREATE DATABASE mylearning",
            ])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    /// Starts the server (again) and waits until it accepts connections.
    async fn run(&mut self) {
        let child = as_postgres(&format!("{BIN}/postgres"))
            .args([
                "-D",
                self.dir.join("data").to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-k",
                self.dir.to_str().unwrap(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = as_postgres(&format!("{BIN}/pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .status()
                .await
                .unwrap();
            if ready.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start in 30 s"
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fast shutdown (SIGINT), waited for.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
            let _ = timeout(Duration::from_secs(20), child.wait()).await;
        }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn count(&self, table: &str) -> i64 {
        let out = as_postgres(&format!("{BIN}/psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "mylearning",
                "-tAc",
            ])
            .arg(format!("SELECT count(*) FROM {table}"))
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(child) = &self.child
            && let Some(pid) = child.id()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGQUIT,
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &str) -> Command {
    if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            program,
        ]);
        c
    } else {
        Command::new(program)
    }
}

async fn req(app: &App, method: &str, path: &str, body: &str, cookie: &str) -> Reply {
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let extra = if cookie.is_empty() {
        String::new()
    } else {
        format!("cookie: {cookie}\r\n")
    };
    exchange_with(&mut s, method, path, body, &extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database_and_sessions_survive_a_database_outage() {
    timeout(Duration::from_secs(120), async {
        let Some(mut pg) = Postgres::start().await else {
            return;
        };
        let env = [
            ("UPDRAFT_DB_WRITER", pg.endpoint()),
            ("UPDRAFT_DB_READER", pg.endpoint()),
            ("UPDRAFT_DB_NAME", "mylearning".to_string()),
            ("UPDRAFT_DB_USER", "postgres".to_string()),
            (
                "MYLEARNING_SESSION_SECRET",
                "shared-by-the-group".to_string(),
            ),
        ];
        // Two instances start together: both create the schema, neither fails.
        let (a, b) = tokio::join!(App::start_with(&env), App::start_with(&env));

        let courses = json(&req(&a, "GET", "/api/courses", "", "").await);
        assert_eq!(
            courses.as_array().unwrap().len(),
            6,
            "seeded once: {courses}"
        );
        assert_eq!(pg.count("courses").await, 6);
        let deep = req(&b, "GET", "/health/deep", "", "").await;
        assert_eq!(deep.status, 200, "{}", deep.body);
        assert!(
            deep.body.contains("postgres (writer 127.0.0.1:"),
            "{}",
            deep.body
        );

        // Signed in on a, enrolled through b: the cookie is the session, no instance holds it.
        let signed = req(&a, "POST", "/api/session", r#"{"name":"ada"}"#, "").await;
        assert_eq!(signed.status, 200, "{}", signed.body);
        let cookie = signed
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let enrolled = req(&b, "POST", "/api/courses/3/enrol", "", &cookie).await;
        assert_eq!(enrolled.status, 201, "{}", enrolled.body);
        let again = req(&a, "POST", "/api/courses/3/enrol", "", &cookie).await;
        assert_eq!(
            again.status, 200,
            "already enrolled, seen by the other instance"
        );
        let mine = json(&req(&a, "GET", "/api/me/enrolments", "", &cookie).await);
        assert_eq!(mine["enrolments"][0]["course_id"], 3, "{mine}");
        assert_eq!(pg.count("enrolments").await, 1);
        let graded = json(
            &req(
                &b,
                "POST",
                "/api/quiz/grade",
                r#"{"answers":[1,0,3],"work":1,"course":3}"#,
                &cookie,
            )
            .await,
        );
        assert_eq!(graded["recorded"], true, "{graded}");
        let attempts = json(&req(&a, "GET", "/api/me/attempts", "", &cookie).await);
        assert_eq!(attempts["attempts"][0]["score"], 3, "{attempts}");

        // The database goes away: data routes answer 503 with the reason, /health stays ok.
        pg.stop().await;
        let down = req(&a, "GET", "/api/courses", "", "").await;
        assert_eq!(down.status, 503, "{}", down.body);
        assert!(
            json(&down)["error"].as_str().unwrap().contains("database"),
            "{}",
            down.body
        );
        assert_eq!(req(&a, "GET", "/health", "", "").await.status, 200);
        assert_eq!(req(&a, "GET", "/health/deep", "", "").await.status, 503);

        // Back: the instances reconnect by themselves; the data is still there.
        pg.run().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = req(&a, "GET", "/api/me/enrolments", "", &cookie).await;
            if r.status == 200 {
                assert_eq!(json(&r)["enrolments"][0]["course_id"], 3);
                break;
            }
            assert!(Instant::now() < deadline, "no reconnection: {}", r.body);
            sleep(Duration::from_millis(200)).await;
        }
        // A restarted instance finds the schema in place (idempotent creation).
        a.sigterm_and_expect_clean_exit().await;
        let c = App::start_with(&env).await;
        assert_eq!(
            json(&req(&c, "GET", "/api/courses", "", "").await)
                .as_array()
                .unwrap()
                .len(),
            6
        );
        c.sigterm_and_expect_clean_exit().await;
        b.sigterm_and_expect_clean_exit().await;
        pg.stop().await;
    })
    .await
    .unwrap();
}

/// A database endpoint that accepts connections and never answers (a hung server, a black-holed
/// failover): data routes answer 503 within the call timeout instead of hanging, `/health` is
/// unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_costs_a_quick_503_not_a_hung_request() {
    timeout(Duration::from_secs(60), async {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                conns.push(s); // keep them open, say nothing
            }
        });
        let app = App::start_with(&[("UPDRAFT_DB_WRITER", addr.to_string())]).await;
        assert_eq!(req(&app, "GET", "/health", "", "").await.status, 200);
        let t0 = Instant::now();
        let r = req(&app, "GET", "/api/courses", "", "").await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("did not answer within 5 s"), "{}", r.body);
        // Bounded by the call timeout (connect + schema + query), with room for a busy machine.
        assert!(t0.elapsed() < Duration::from_secs(30));
        app.sigterm_and_expect_clean_exit().await;
        held.abort();
    })
    .await
    .unwrap();
}

//! Managed databases in the daemon: one cluster controller (crate `database`) per primary
//! `aws_db_instance`, its writer and reader endpoints on the data plane's TCP endpoints
//! ([`proxy::l4::TcpEndpoints`]), and the environment instances get to reach them.
//!
//! The clusters run their own loops (100 ms, and at once on a server's exit); the auto scaling
//! controller only tells them which zones are down ([`Databases::zones_down`], from the AZ
//! outage drill) and reads their status without waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use database::ClusterSpec;
use database::controller::{self, ClusterHandle, ClusterStatus, Endpoints};
use database::postgres::Installation;
use model::{AvailabilityZone, Location, ResourceAddress, SourceMap, Stack, Timestamp};
use proxy::l4::TcpEndpoints;

use crate::clock::SharedClock;

/// How databases run.
#[derive(Debug, Clone, Default)]
pub struct DatabaseOptions {
    /// The OS user the servers run as when updraft runs as root (default `postgres`).
    pub postgres_user: Option<String>,
    /// Where initdb and postgres are (default: found under /usr/lib/postgresql).
    pub postgres_bin: Option<PathBuf>,
}

/// Why the databases could not start. Nothing is left running.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("{address}: {message}{}", location.as_ref().map(|l| format!("\n  --> {l}")).unwrap_or_default())]
    Setup {
        address: ResourceAddress,
        location: Option<Location>,
        message: String,
    },
    #[error("{address}: cannot listen on {addr} (its {which} endpoint): {source}{}\n  = help: set another port on the database, or stop what listens there (`ss -ltnp 'sport = :{}'`)",
        location.as_ref().map(|l| format!("\n  --> {l}")).unwrap_or_default(), addr.port())]
    Endpoint {
        address: ResourceAddress,
        which: &'static str,
        addr: SocketAddr,
        location: Option<Location>,
        source: std::io::Error,
    },
}

/// The running clusters.
pub struct Databases {
    clusters: BTreeMap<String, ClusterHandle>,
    /// Resource name → identifier.
    keys: BTreeMap<String, String>,
    tcp: TcpEndpoints,
}

struct Router {
    tcp: TcpEndpoints,
}

impl Endpoints for Router {
    fn writer(&self, cluster: &str, target: Option<(String, SocketAddr)>, refusal: &str) {
        let targets: Vec<_> = target.into_iter().collect();
        self.tcp
            .route(&format!("{cluster}/writer"), &targets, refusal, true);
    }

    fn readers(&self, cluster: &str, targets: Vec<(String, SocketAddr)>, refusal: &str) {
        self.tcp
            .route(&format!("{cluster}/reader"), &targets, refusal, false);
    }
}

struct Clock(SharedClock);

impl database::Clock for Clock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

impl Databases {
    pub fn none() -> Databases {
        Databases {
            clusters: BTreeMap::new(),
            keys: BTreeMap::new(),
            tcp: TcpEndpoints::new(),
        }
    }

    /// Checks the PostgreSQL installation and binds every endpoint (all or nothing); then
    /// [`Databases::run`] starts the clusters.
    pub async fn prepare(
        stack: &Stack,
        sources: &SourceMap,
        state_dir: &Path,
        options: &DatabaseOptions,
    ) -> Result<Prepared, DatabaseError> {
        let tcp = TcpEndpoints::new();
        let primaries: Vec<_> = stack.db_primaries().collect();
        let Some(first) = primaries.first() else {
            return Ok(Prepared {
                tcp,
                specs: vec![],
                install: None,
            });
        };
        let address = |key: &str| ResourceAddress::new("aws_db_instance", key);
        let install = Installation::find(
            options.postgres_bin.as_deref(),
            options.postgres_user.as_deref().unwrap_or("postgres"),
        )
        .map_err(|e| DatabaseError::Setup {
            address: address(&first.key),
            location: sources.get(&address(&first.key), Some("engine")).cloned(),
            message: e.to_string(),
        })?;
        let mut specs = Vec::new();
        for db in primaries {
            let Some(spec) = ClusterSpec::from_stack(stack, &db.key) else {
                continue;
            };
            for (which, addr) in [
                ("writer", db.writer_endpoint()),
                ("reader", db.reader_endpoint()),
            ] {
                if let Err(source) = tcp.bind(&format!("{}/{which}", db.identifier), addr).await {
                    tcp.shutdown();
                    return Err(DatabaseError::Endpoint {
                        address: address(&db.key),
                        which,
                        addr,
                        location: sources.get(&address(&db.key), Some("port")).cloned(),
                        source,
                    });
                }
            }
            install
                .check_reachable(&state_dir.join("db").join(&spec.identifier))
                .map_err(|e| DatabaseError::Setup {
                    address: address(&db.key),
                    location: None,
                    message: e.to_string(),
                })?;
            specs.push(spec);
        }
        Ok(Prepared {
            tcp,
            specs,
            install: Some(install),
        })
    }

    /// Starts every cluster of `prepared`.
    pub fn run(prepared: Prepared, state_dir: &Path, clock: SharedClock) -> Databases {
        let Prepared {
            tcp,
            specs,
            install,
        } = prepared;
        let mut dbs = Databases {
            clusters: BTreeMap::new(),
            keys: BTreeMap::new(),
            tcp: tcp.clone(),
        };
        let Some(install) = install else {
            return dbs;
        };
        tracing::info!(bin = %install.bin_dir.display(), user = %install.user.name, "PostgreSQL {} runs the databases", install.major);
        let opts = controller::Options {
            dir: state_dir.join("db"),
            install,
            clock: Arc::new(Clock(clock)),
            endpoints: Arc::new(Router { tcp }),
        };
        for spec in specs {
            let key = spec.key.clone();
            let id = spec.identifier.clone();
            match controller::spawn(spec, opts.clone()) {
                Ok(handle) => {
                    dbs.keys.insert(key, id.clone());
                    dbs.clusters.insert(id, handle);
                }
                Err(e) => {
                    tracing::error!(cluster = %id, error = %e, "cannot start the database cluster")
                }
            }
        }
        dbs
    }

    /// The cluster named `name` (identifier or resource name).
    pub fn find(&self, name: &str) -> Option<&ClusterHandle> {
        self.clusters
            .get(name)
            .or_else(|| self.keys.get(name).and_then(|id| self.clusters.get(id)))
    }

    /// The only cluster, when there is exactly one.
    pub fn only(&self) -> Option<&ClusterHandle> {
        (self.clusters.len() == 1)
            .then(|| self.clusters.values().next())
            .flatten()
    }

    pub fn names(&self) -> Vec<String> {
        self.clusters.keys().cloned().collect()
    }

    /// Every cluster's status as of its last tick (never waits).
    pub fn statuses(&self) -> Vec<ClusterStatus> {
        self.clusters.values().map(|c| c.status()).collect()
    }

    /// The zones that are down now (AZ outage drills): nodes there stop until they are up.
    pub async fn zones_down(&self, zones: BTreeSet<AvailabilityZone>) {
        for c in self.clusters.values() {
            c.zones_down(zones.clone()).await;
        }
    }

    /// Stops every server and endpoint. Data stays in the state directory.
    pub async fn shutdown(&self) {
        for c in self.clusters.values() {
            c.shutdown().await;
        }
        self.tcp.shutdown();
    }
}

/// Checked installation and bound endpoints, not yet running.
pub struct Prepared {
    tcp: TcpEndpoints,
    specs: Vec<ClusterSpec>,
    install: Option<Installation>,
}

impl Prepared {
    /// Releases the endpoints (another part of the stack failed to start).
    pub fn abandon(self) {
        self.tcp.shutdown();
    }
}

/// The environment an instance gets to reach the databases (the shared seam with the app):
/// `UPDRAFT_DB_WRITER`, `UPDRAFT_DB_READER` (`host:port`), `UPDRAFT_DB_NAME`,
/// `UPDRAFT_DB_USER`, `UPDRAFT_DB_PASSWORD` when the stack has exactly one database, and
/// `UPDRAFT_DB_<RESOURCE NAME>_WRITER` etc. for every database.
pub fn instance_env(stack: &Stack) -> Vec<(String, String)> {
    let primaries: Vec<_> = stack.db_primaries().collect();
    let mut env = Vec::new();
    for db in &primaries {
        let model::DbInstanceKind::Primary {
            db_name,
            username,
            password,
            ..
        } = &db.kind
        else {
            continue;
        };
        let values = [
            ("WRITER", db.writer_endpoint().to_string()),
            ("READER", db.reader_endpoint().to_string()),
            ("NAME", db_name.clone().unwrap_or_else(|| "postgres".into())),
            ("USER", username.clone()),
            ("PASSWORD", password.clone()),
        ];
        let upper: String = db
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        for (k, v) in &values {
            env.push((format!("UPDRAFT_DB_{upper}_{k}"), v.clone()));
            if primaries.len() == 1 {
                env.push((format!("UPDRAFT_DB_{k}"), v.clone()));
            }
        }
    }
    env
}

/// The database nodes, in the shape `updraft status` and the diagram share with caches.
pub fn node_statuses(statuses: &[ClusterStatus]) -> Vec<crate::views::NodeStatus> {
    statuses
        .iter()
        .flat_map(|c| {
            c.nodes.iter().map(|n| crate::views::NodeStatus {
                kind: "database".into(),
                cluster: c.identifier.clone(),
                id: n.name.clone(),
                role: n.role.clone(),
                availability_zone: n.availability_zone.clone(),
                state: n.status.clone(),
                address: n.address.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_get_the_endpoints_and_credentials() {
        let text = r#"
resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "10.0.1.0/24"
}
resource "aws_subnet" "b" {
  availability_zone = "us-east-1b"
  cidr_block        = "10.0.2.0/24"
}
resource "aws_db_instance" "main" {
  engine         = "postgres"
  instance_class = "db.t3.micro"
  db_name        = "app"
  username       = "app"
  password       = "correct-horse"
  port           = 6543
}
"#;
        let loaded =
            config::load_str("main.tf", text, &Default::default(), Path::new(".")).unwrap();
        let env: BTreeMap<_, _> = instance_env(&loaded.stack).into_iter().collect();
        assert_eq!(env["UPDRAFT_DB_WRITER"], "127.0.0.2:6543");
        assert_eq!(env["UPDRAFT_DB_READER"], "127.0.0.3:6543");
        assert_eq!(env["UPDRAFT_DB_NAME"], "app");
        assert_eq!(env["UPDRAFT_DB_USER"], "app");
        assert_eq!(env["UPDRAFT_DB_PASSWORD"], "correct-horse");
        assert_eq!(env["UPDRAFT_DB_MAIN_WRITER"], "127.0.0.2:6543");
    }
}

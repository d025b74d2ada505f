//! Amazon RDS for PostgreSQL: `aws_db_instance` (a primary, optionally Multi-AZ, or a read
//! replica through `replicate_source_db`) and `aws_db_subnet_group` (the AZs it may use), with
//! the Terraform AWS provider's attribute names and RDS's rules.
//!
//! A *database cluster* here is one primary `aws_db_instance` together with the read replicas
//! that name it in `replicate_source_db`. It has two endpoints of updraft's own data plane:
//! the **writer** (always the current primary, refused while there is none) and the **reader**
//! (balanced over healthy replicas within the lag bound). Both listen on dedicated loopback
//! addresses, [`WRITER_HOST`] and [`READER_HOST`], on the database's `port`, so a PostgreSQL
//! already listening on `localhost:5432` does not collide with them.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::network::AvailabilityZone;
use crate::validate::Violation;

/// Where every writer endpoint listens (with the database's `port`).
pub const WRITER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where every reader endpoint listens (with the database's `port`).
pub const READER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// PostgreSQL's (and RDS's) default port.
pub const DEFAULT_PORT: u16 = 5432;

/// The tag that bounds the reader endpoint's replica lag, in bytes of WAL not yet replayed
/// (`"16MB"`, `"512kB"`, `"1048576"`). Tags are the one place AWS lets a configuration carry
/// settings of its own, and real Terraform accepts them unchanged.
pub const MAX_REPLICA_LAG_TAG: &str = "updraft:max_replica_lag";

/// Default reader lag bound: 16 MiB of WAL (one WAL segment).
pub const DEFAULT_MAX_REPLICA_LAG: u64 = 16 * 1024 * 1024;

/// `aws_db_instance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInstance {
    /// Terraform resource name.
    pub key: String,
    /// `identifier` (RDS's DB instance identifier); defaults to the resource name.
    pub identifier: String,
    pub arn: String,
    /// `engine`: only `postgres`.
    pub engine: String,
    /// `engine_version` as written (recorded; the installed PostgreSQL runs).
    pub engine_version: Option<String>,
    /// `instance_class` (`db.t3.micro`, …): recorded.
    pub instance_class: String,
    /// `allocated_storage` in GiB: recorded.
    pub allocated_storage: Option<u32>,
    /// Where it runs and how it replicates.
    pub kind: DbInstanceKind,
    /// `port` (default 5432): the port of the endpoints and of every node.
    pub port: u16,
    /// `availability_zone`: where the primary (or this replica) starts. Default: the first AZ
    /// of the subnet group.
    pub availability_zone: Option<AvailabilityZone>,
    /// Resource name of the `aws_db_subnet_group` (`db_subnet_group_name`).
    pub db_subnet_group: Option<String>,
    /// `backup_retention_period`, `backup_window`, `maintenance_window`,
    /// `skip_final_snapshot`, `deletion_protection`, `storage_type`…: accepted and recorded.
    pub recorded_settings: Vec<(String, String)>,
    /// Reader endpoint lag bound in bytes ([`MAX_REPLICA_LAG_TAG`]).
    pub max_replica_lag: u64,
}

/// A primary (with its credentials) or a read replica of another instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DbInstanceKind {
    Primary {
        /// `multi_az`: a synchronous standby in another AZ, automated failover.
        multi_az: bool,
        /// `db_name`: a database created at launch (none when unset, as on RDS).
        db_name: Option<String>,
        /// `username`: the master user.
        username: String,
        /// `password`: the master user's password.
        password: String,
    },
    /// `replicate_source_db`: an asynchronous read replica of the primary with this resource
    /// name.
    Replica { source: String },
}

impl DbInstance {
    pub fn is_primary(&self) -> bool {
        matches!(self.kind, DbInstanceKind::Primary { .. })
    }

    pub fn multi_az(&self) -> bool {
        matches!(self.kind, DbInstanceKind::Primary { multi_az: true, .. })
    }

    /// The writer endpoint of the cluster this instance leads.
    pub fn writer_endpoint(&self) -> SocketAddr {
        SocketAddr::from((WRITER_HOST, self.port))
    }

    /// The reader endpoint of the cluster this instance leads.
    pub fn reader_endpoint(&self) -> SocketAddr {
        SocketAddr::from((READER_HOST, self.port))
    }

    /// Checks that need only the instance itself (RDS's rules for PostgreSQL).
    pub fn validate(&self) -> Vec<Violation> {
        let mut v = Vec::new();
        if self.engine != "postgres" {
            v.push(
                Violation::new(
                    "engine",
                    format!(
                        "engine `{}` is not supported: updraft runs PostgreSQL",
                        self.engine
                    ),
                )
                .hint("use engine = \"postgres\""),
            );
        }
        if let Some(storage) = self.allocated_storage
            && !(20..=65_536).contains(&storage)
        {
            v.push(
                Violation::new(
                    "allocated_storage",
                    format!("{storage} GiB is out of range: RDS for PostgreSQL takes 20 to 65536"),
                )
                .hint("set allocated_storage = 20"),
            );
        }
        if let DbInstanceKind::Primary {
            db_name,
            username,
            password,
            ..
        } = &self.kind
        {
            v.extend(check_username(username));
            v.extend(check_password(password));
            if let Some(name) = db_name {
                v.extend(check_db_name(name));
            }
        }
        v
    }
}

/// PostgreSQL and RDS reserve these names for themselves.
const RESERVED_USERS: &[&str] = &[
    "rdsadmin",
    "rdsrepladmin",
    "rds_superuser",
    "updraft_admin",
    "updraft_replication",
    "public",
    "current_user",
    "session_user",
    "user",
    "none",
];

/// RDS: 1–63 letters, digits and underscores, starting with a letter; not a reserved word.
pub fn check_username(name: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        v.push(
            Violation::new(
                "username",
                format!(
                    "`{name}` is not a valid master username: RDS takes 1 to 63 letters, digits and underscores, starting with a letter"
                ),
            )
            .hint("write username = \"app\""),
        );
    } else if RESERVED_USERS.contains(&name.to_ascii_lowercase().as_str())
        || name.to_ascii_lowercase().starts_with("pg_")
    {
        v.push(
            Violation::new(
                "username",
                format!("`{name}` is reserved by PostgreSQL, RDS or updraft"),
            )
            .hint("choose another master username, e.g. username = \"app\""),
        );
    }
    v
}

/// RDS: 8–128 printable ASCII characters other than `/`, `"`, `@` and space.
pub fn check_password(password: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    let len = password.chars().count();
    if !(8..=128).contains(&len) {
        v.push(
            Violation::new(
                "password",
                format!("the master password has {len} characters: RDS takes 8 to 128"),
            )
            .hint("use a longer password, e.g. password = var.db_password"),
        );
    }
    if let Some(bad) = password
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@'))
    {
        let shown = if bad == ' ' {
            "a space".to_owned()
        } else if bad.is_ascii_graphic() {
            format!("`{bad}`")
        } else {
            "a non-printable or non-ASCII character".to_owned()
        };
        v.push(
            Violation::new(
                "password",
                format!("the master password contains {shown}, which RDS does not allow"),
            )
            .hint("use printable ASCII characters other than /, \", @ and space"),
        );
    }
    v
}

/// RDS for PostgreSQL: 1–63 letters, digits and underscores, starting with a letter.
pub fn check_db_name(name: &str) -> Vec<Violation> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid && !["postgres", "template0", "template1"].contains(&name) {
        return Vec::new();
    }
    let message = if valid {
        format!("`{name}` is a database PostgreSQL creates itself")
    } else {
        format!(
            "`{name}` is not a valid database name: RDS takes 1 to 63 letters, digits and underscores, starting with a letter"
        )
    };
    vec![Violation::new("db_name", message).hint("write db_name = \"app\"")]
}

/// Parses a lag bound: a whole number of bytes, optionally with a unit (`kB`, `MB`, `GB`,
/// as PostgreSQL writes sizes, powers of 1024; `KiB`, `MiB`, `GiB` too).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" | "KiB" | "k" => 1024,
        "MB" | "MiB" | "M" => 1024 * 1024,
        "GB" | "GiB" | "G" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `aws_db_subnet_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSubnetGroup {
    pub key: String,
    /// `name` (what `db_subnet_group_name` refers to).
    pub name: String,
    /// Subnet resource names from `subnet_ids`.
    pub subnets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(user: &str, password: &str) -> DbInstance {
        DbInstance {
            key: "main".into(),
            identifier: "main".into(),
            arn: String::new(),
            engine: "postgres".into(),
            engine_version: None,
            instance_class: "db.t3.micro".into(),
            allocated_storage: Some(20),
            kind: DbInstanceKind::Primary {
                multi_az: true,
                db_name: Some("app".into()),
                username: user.into(),
                password: password.into(),
            },
            port: 5432,
            availability_zone: None,
            db_subnet_group: None,
            recorded_settings: vec![],
            max_replica_lag: DEFAULT_MAX_REPLICA_LAG,
        }
    }

    #[test]
    fn rds_rules_for_credentials() {
        assert!(primary("app", "correct-horse").validate().is_empty());
        let v = primary("1app", "short").validate();
        assert_eq!(v.len(), 2);
        assert!(v[0].message.contains("not a valid master username"));
        assert!(v[1].message.contains("5 characters"));
        let v = primary("rdsadmin", "has a space").validate();
        assert!(v[0].message.contains("reserved"));
        assert!(v[1].message.contains("a space"));
        assert!(check_password("with/slash").len() == 1);
        assert!(
            check_db_name("template1")[0]
                .message
                .contains("creates itself")
        );
        let mut m = primary("app", "correct-horse");
        m.engine = "mysql".into();
        assert!(m.validate()[0].message.contains("`mysql` is not supported"));
    }

    #[test]
    fn endpoints_have_their_own_addresses() {
        let p = primary("app", "correct-horse");
        assert_eq!(p.writer_endpoint().to_string(), "127.0.0.2:5432");
        assert_eq!(p.reader_endpoint().to_string(), "127.0.0.3:5432");
    }

    #[test]
    fn sizes_parse_like_postgres() {
        assert_eq!(parse_size("16MB"), Some(16 * 1024 * 1024));
        assert_eq!(parse_size("512kB"), Some(512 * 1024));
        assert_eq!(parse_size("1048576"), Some(1_048_576));
        assert_eq!(parse_size(" 2 GiB "), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("99999999999999999999GB"), None);
        assert_eq!(parse_size("-1"), None);
    }
}

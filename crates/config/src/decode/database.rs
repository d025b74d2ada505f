//! Amazon RDS: `aws_db_subnet_group` and `aws_db_instance` (PostgreSQL primaries, Multi-AZ or
//! not, and read replicas through `replicate_source_db`).

use hcl::Value;
use model::database::{self, DbInstance, DbInstanceKind, DbSubnetGroup};
use model::{AvailabilityZone, Violation};

use super::Decode;

/// Attributes that only matter on AWS: accepted, recorded, and shown in `updraft status`.
const RECORDED: &[&str] = &[
    "backup_retention_period",
    "backup_window",
    "maintenance_window",
    "skip_final_snapshot",
    "final_snapshot_identifier",
    "deletion_protection",
    "storage_type",
    "storage_encrypted",
    "max_allocated_storage",
    "iops",
    "publicly_accessible",
    "apply_immediately",
    "auto_minor_version_upgrade",
];

impl Decode<'_> {
    pub(super) fn db_subnet_group(&self) -> Option<DbSubnetGroup> {
        let r = self.r;
        let ids = match r.strings("subnet_ids") {
            Some(ids) => ids,
            None if r.has("subnet_ids") => return None,
            None => {
                return r.missing("subnet_ids", "[aws_subnet.a.id, aws_subnet.b.id]");
            }
        };
        let subnets: Vec<String> = ids
            .iter()
            .filter_map(|id| self.index.resolve(r, "subnet_ids", id, "aws_subnet", "id"))
            .collect();
        if subnets.len() != ids.len() {
            return None;
        }
        if subnets.is_empty() {
            r.error(
                "subnet_ids",
                "a DB subnet group needs at least one subnet",
                Some(
                    "list subnets in two or more AZs, e.g. subnet_ids = aws_subnet.private[*].id"
                        .into(),
                ),
            );
            return None;
        }
        Some(DbSubnetGroup {
            key: self.inst.key.clone(),
            name: self.exported("name"),
            subnets,
        })
    }

    pub(super) fn db_instance(&self) -> Option<DbInstance> {
        let r = self.r;
        let mut ok = true;
        for (attr, why) in [
            (
                "snapshot_identifier",
                "restoring from a snapshot is not supported yet",
            ),
            (
                "manage_master_user_password",
                "Secrets Manager is not simulated: set password",
            ),
            (
                "iam_database_authentication_enabled",
                "IAM database authentication is not simulated",
            ),
            (
                "password_wo",
                "write-only passwords are not supported yet: set password",
            ),
            (
                "parameter_group_name",
                "parameter groups are not supported: updraft configures PostgreSQL itself",
            ),
        ] {
            let set = match r.attr(attr).map(|a| &a.value) {
                None | Some(Value::Bool(false)) => false,
                Some(_) => true,
            };
            if set {
                r.error(attr, why, Some(format!("remove {attr}")));
                ok = false;
            }
        }
        for block in ["restore_to_point_in_time", "s3_import", "blue_green_update"] {
            if let Some(b) = r.blocks(block).first() {
                b.block_error(
                    format!("`{block}` is not supported yet"),
                    Some(format!("remove the {block} block")),
                );
                ok = false;
            }
        }

        let source = match r.string("replicate_source_db") {
            None if r.has("replicate_source_db") => return None,
            None => None,
            Some(s) => Some(self.index.resolve(
                r,
                "replicate_source_db",
                &s,
                "aws_db_instance",
                "identifier",
            )?),
        };

        let engine = match (r.string("engine"), &source) {
            (Some(e), _) => Some(e),
            (None, Some(_)) if !r.has("engine") => Some("postgres".to_owned()),
            (None, _) if r.has("engine") => None,
            (None, _) => r.missing("engine", "\"postgres\""),
        };
        let instance_class = match (r.string("instance_class"), &source) {
            (Some(c), _) => Some(c),
            (None, _) if r.has("instance_class") => None,
            (None, _) => r.missing("instance_class", "\"db.t3.micro\""),
        };
        let allocated_storage = if r.has("allocated_storage") {
            r.number("allocated_storage", 0, u64::from(u32::MAX))
                .map(|n| Some(n as u32))
        } else {
            Some(None)
        };
        let port = if r.has("port") {
            r.port("port")
        } else {
            Some(database::DEFAULT_PORT)
        };
        let availability_zone = match r.string("availability_zone") {
            None if r.has("availability_zone") => None,
            None => Some(None),
            Some(z) => Some(Some(AvailabilityZone::new(z))),
        };
        let db_subnet_group = match r.string("db_subnet_group_name") {
            None if r.has("db_subnet_group_name") => None,
            None => Some(None),
            Some(name) => self
                .index
                .resolve(
                    r,
                    "db_subnet_group_name",
                    &name,
                    "aws_db_subnet_group",
                    "name",
                )
                .map(Some),
        };
        let max_replica_lag = self.max_replica_lag();

        let kind = match source {
            Some(source) => {
                for attr in ["username", "password", "db_name"] {
                    if r.has(attr) {
                        r.error(
                            attr,
                            format!("a read replica takes its {attr} from its source"),
                            Some(format!("remove {attr} from the replica")),
                        );
                        ok = false;
                    }
                }
                if r.bool("multi_az") == Some(true) {
                    r.error(
                        "multi_az",
                        "Multi-AZ read replicas are not supported: a read replica runs as one node",
                        Some("remove multi_az from the replica; the primary's multi_az gives the standby".into()),
                    );
                    ok = false;
                }
                Some(DbInstanceKind::Replica { source })
            }
            None => {
                if r.has("name") {
                    r.error(
                        "name",
                        "`name` was renamed to `db_name` in the AWS provider",
                        Some("write db_name = \"app\"".into()),
                    );
                }
                let username = r.required_string("username", "\"app\"");
                let password = r.required_string("password", "var.db_password");
                let db_name = match r.string("db_name") {
                    None if r.has("db_name") => None,
                    other => Some(other),
                };
                let multi_az = if r.has("multi_az") {
                    r.bool("multi_az")
                } else {
                    Some(false)
                };
                match (username, password, db_name, multi_az) {
                    (Some(username), Some(password), Some(db_name), Some(multi_az)) => {
                        Some(DbInstanceKind::Primary {
                            multi_az,
                            db_name,
                            username,
                            password,
                        })
                    }
                    _ => None,
                }
            }
        };

        let recorded_settings = RECORDED
            .iter()
            .filter_map(|a| {
                let v = &r.attr(a)?.value;
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(((*a).to_owned(), text))
            })
            .collect();

        let db = DbInstance {
            key: self.inst.key.clone(),
            identifier: self.exported("identifier"),
            arn: self.exported("arn"),
            engine: engine?,
            engine_version: r.string("engine_version"),
            instance_class: instance_class.unwrap_or_else(|| "db.t3.micro".into()),
            allocated_storage: allocated_storage?,
            kind: kind?,
            port: port?,
            availability_zone: availability_zone?,
            db_subnet_group: db_subnet_group?,
            recorded_settings,
            max_replica_lag: max_replica_lag?,
        };
        for Violation {
            attribute,
            message,
            hint,
        } in db.validate()
        {
            r.error(&attribute, message, hint);
            ok = false;
        }
        if !valid_identifier(&db.identifier) {
            r.error(
                "identifier",
                format!(
                    "`{}` is not a valid DB instance identifier: RDS takes 1 to 63 lowercase letters, digits and hyphens, starting with a letter, with no two hyphens in a row and no hyphen at the end",
                    db.identifier
                ),
                Some("write identifier = \"main\"".into()),
            );
            ok = false;
        }
        ok.then_some(db)
    }

    /// `tags = { "updraft:max_replica_lag" = "16MB" }`, else the default.
    fn max_replica_lag(&self) -> Option<u64> {
        let r = self.r;
        let Some(Value::Object(tags)) = r.attr("tags").map(|a| &a.value) else {
            return Some(database::DEFAULT_MAX_REPLICA_LAG);
        };
        let Some(value) = tags.get(database::MAX_REPLICA_LAG_TAG) else {
            return Some(database::DEFAULT_MAX_REPLICA_LAG);
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        match database::parse_size(&text) {
            Some(n) if n > 0 => Some(n),
            _ => {
                r.error(
                    "tags",
                    format!(
                        "tag {} = `{text}` is not a size",
                        database::MAX_REPLICA_LAG_TAG
                    ),
                    Some(
                        "write a WAL size such as \"16MB\", \"512kB\" or a number of bytes".into(),
                    ),
                );
                None
            }
        }
    }
}

/// RDS's DB instance identifier rule.
fn valid_identifier(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_rds() {
        assert!(valid_identifier("main"));
        assert!(valid_identifier("main-db-1"));
        assert!(!valid_identifier("Main"));
        assert!(!valid_identifier("1main"));
        assert!(!valid_identifier("main--db"));
        assert!(!valid_identifier("main-"));
        assert!(!valid_identifier("main_db"));
    }
}

//! Applying a changed configuration to the running stack (`updraft apply`).
//!
//! All or nothing: the new routing snapshot must be accepted by the data plane (every new
//! listener binds) before anything else changes. Then groups are re-specced (desired capacity
//! follows an explicit change and is clamped to the new bounds), new groups start, and removed
//! groups scale to zero — draining their instances — before they disappear.

use model::{Location, ResourceAddress, SourceMap, Stack};
use proxy::ApplyError;
use scaling::GroupState;

use super::{Controller, Group};
use crate::fleet::InstanceRecord;
use crate::routing;

/// Why an apply was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyRefused {
    pub message: String,
    pub location: Option<Location>,
}

impl Controller {
    pub(crate) async fn apply_stack(
        &mut self,
        mut desired: Stack,
        sources: SourceMap,
        label: String,
    ) -> Result<config::Plan, ApplyRefused> {
        config::carry_launch_template_versions(&self.stack, &mut desired);
        let mut plan = config::plan(&self.stack, &desired);
        let now = self.clock.now();

        // Databases are not changed live (yet): refuse rather than half-apply.
        if let Some(c) = plan.changes.iter().find(|c| {
            matches!(
                c.address.kind.as_str(),
                "aws_db_instance" | "aws_db_subnet_group"
            )
        }) {
            return Err(ApplyRefused {
                message: format!(
                    "{} changes, and databases are not changed on a running stack yet: \
                     run `updraft down` then `updraft up` (the data is kept); nothing was applied",
                    c.address
                ),
                location: sources.get(&c.address, None).cloned(),
            });
        }

        // Work out the next groups without touching the current ones: if the data plane
        // refuses the new snapshot, nothing must have changed.
        let mut next = std::collections::BTreeMap::new();
        // Groups that now launch from another launch template resource.
        let mut switched: Vec<String> = Vec::new();
        for spec in desired.auto_scaling_groups.values() {
            let group = match self.groups.get(&spec.key) {
                Some(old) => {
                    if old.spec.launch_template.template != spec.launch_template.template {
                        switched.push(spec.key.clone());
                    }
                    let mut group = Group {
                        state: scaling::asg::respec(&old.spec, spec, &old.state, now),
                        spec: spec.clone(),
                        waiting: old.waiting.clone(),
                        last_failure: old.last_failure.clone(),
                        deleting: false,
                    };
                    let version =
                        |stack: &Stack| stack.launch_template_of(spec).map_or(1, |t| t.version);
                    let (before, after) = (version(&self.stack), version(&desired));
                    if let Some(note) =
                        super::refresh::on_apply(old, &mut group, before, after, now)
                    {
                        plan.notes.push(note);
                    }
                    group
                }
                None => Group {
                    state: GroupState::new(spec),
                    spec: spec.clone(),
                    waiting: None,
                    last_failure: None,
                    deleting: false,
                },
            };
            next.insert(spec.key.clone(), group);
        }
        // Removed groups scale to zero (their instances drain), then disappear.
        let removed: Vec<Group> = self
            .groups
            .values()
            .filter(|g| !desired.auto_scaling_groups.contains_key(&g.spec.key))
            .map(|g| {
                let mut g = g.clone();
                g.spec.min_size = 0;
                g.spec.desired_capacity = Some(0);
                if g.state.desired_capacity != 0 {
                    g.state.desired_cause = Some(scaling::cause::group_deleted(now));
                }
                g.state.desired_capacity = 0;
                g.deleting = true;
                g
            })
            .collect();

        let draining: Vec<_> = removed.iter().map(|g| g.spec.clone()).collect();
        let live: Vec<InstanceRecord> = self.instances.values().cloned().collect();
        let mut snapshot =
            routing::snapshot_with(&desired, &draining, &live, self.config.bind_host);
        snapshot.faults = self.drill_faults(&desired);
        if let Err(e) = self.data_plane.apply(snapshot).await {
            return Err(refusal(e, &sources));
        }

        for g in removed {
            next.insert(g.spec.key.clone(), g);
        }
        self.groups = next;
        // Their instances came from a template that is no longer the group's: AWS replaces
        // them first (termination's "different launch template", never skipped as matching by
        // an instance refresh). No template has a version 0, so 0 says "another template".
        for r in self
            .instances
            .values_mut()
            .filter(|r| switched.contains(&r.group) && r.terminated_at.is_none())
        {
            r.launch_template_version = scaling::termination::OTHER_TEMPLATE;
            if let Err(e) = self.store.save_instance(r) {
                tracing::error!(instance = %r.id, error = %e, "could not persist the instance");
            }
        }
        self.autoscale.autoscaler.reconfigure(&desired, now);
        self.stack = desired;
        self.config.config_label = label.clone();
        let saved = self
            .store
            .save_stack(&label, &self.stack, now)
            .and_then(|()| {
                self.groups
                    .values()
                    .try_for_each(|g| self.store.save_group(&g.spec, &g.state))
            });
        if let Err(e) = saved {
            tracing::error!(error = %e, "applied, but could not persist the new stack");
        }
        tracing::info!(changes = plan.changes.len(), "configuration applied");
        Ok(plan)
    }
}

fn refusal(e: ApplyError, sources: &SourceMap) -> ApplyRefused {
    match e {
        ApplyError::Bind {
            listener,
            addr,
            source,
        } => {
            let address = ResourceAddress::new("aws_lb_listener", listener);
            ApplyRefused {
                message: format!("{address}: cannot listen on {addr}: {source}"),
                location: sources.get(&address, Some("port")).cloned(),
            }
        }
        other => ApplyRefused {
            message: other.to_string(),
            location: None,
        },
    }
}

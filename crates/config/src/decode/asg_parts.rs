//! The auto scaling group's nested features: `initial_lifecycle_hook` blocks and the
//! `aws_autoscaling_lifecycle_hook` resource, `warm_pool`, `instance_refresh`,
//! `suspended_processes`, `max_instance_lifetime`, `default_instance_warmup`. AWS's ranges, each
//! error at the line of the attribute (or block) at fault.

use std::time::Duration;

use model::{
    InstanceRefreshSpec, LifecycleActionResult, LifecycleHook, LifecycleHookResource,
    LifecycleTransition, ProtectedInstances, RefreshPreferences, ScalingProcess, WarmPool,
    WarmPoolState,
};

use model::instance_refresh::{TRIGGERS, trigger_field};

use super::{Decode, Reader};
use crate::suggest;

impl Decode<'_> {
    /// `initial_lifecycle_hook` blocks, each checked where it is written; names unique.
    pub(super) fn initial_lifecycle_hooks(&self) -> Option<Vec<LifecycleHook>> {
        let mut hooks: Vec<LifecycleHook> = Vec::new();
        let mut ok = true;
        for b in self.r.blocks("initial_lifecycle_hook") {
            match lifecycle_hook(&b) {
                Some(h) if hooks.iter().any(|o| o.name == h.name) => {
                    b.error(
                        "name",
                        format!("two lifecycle hooks of this group are named `{}`", h.name),
                        Some("give each lifecycle hook of a group its own name".into()),
                    );
                    ok = false;
                }
                Some(h) => hooks.push(h),
                None => ok = false,
            }
        }
        if hooks.len() > model::lifecycle_hook::MAX_HOOKS_PER_GROUP {
            self.r.error(
                "initial_lifecycle_hook",
                "AWS allows at most 50 lifecycle hooks per group",
                Some("merge hooks that do the same work".into()),
            );
            ok = false;
        }
        ok.then_some(hooks)
    }

    /// `aws_autoscaling_lifecycle_hook`: a hook attached to a group by its name.
    pub(super) fn lifecycle_hook_resource(&self) -> Option<LifecycleHookResource> {
        let r = self.r;
        let group = r
            .required_string("autoscaling_group_name", "aws_autoscaling_group.web.name")
            .and_then(|name| {
                self.index.resolve(
                    r,
                    "autoscaling_group_name",
                    &name,
                    "aws_autoscaling_group",
                    "name",
                )
            });
        let hook = lifecycle_hook(r);
        let (group, hook) = (group?, hook?);
        let taken = self.stack.auto_scaling_groups.get(&group).is_some_and(|g| {
            g.initial_lifecycle_hooks
                .iter()
                .any(|h| h.name == hook.name)
        }) || self
            .stack
            .lifecycle_hooks
            .values()
            .any(|h| h.group == group && h.hook.name == hook.name);
        if taken {
            r.error(
                "name",
                format!(
                    "group `{group}` already has a lifecycle hook named `{}`",
                    hook.name
                ),
                Some("give each lifecycle hook of a group its own name".into()),
            );
            return None;
        }
        Some(LifecycleHookResource {
            key: self.inst.key.clone(),
            group,
            hook,
        })
    }

    /// `warm_pool { … }`.
    pub(super) fn warm_pool(&self) -> Option<Option<WarmPool>> {
        let Some(w) = self.r.block("warm_pool") else {
            return Some(None);
        };
        let pool_state = match w.string("pool_state").as_deref() {
            None if w.has("pool_state") => None,
            None => Some(WarmPoolState::Stopped),
            Some(s) => WarmPoolState::parse(s).or_else(|| {
                let hint = suggest::did_you_mean(s, WarmPoolState::NAMES.iter().copied())
                    .unwrap_or_else(|| "use \"Stopped\", \"Running\" or \"Hibernated\"".into());
                w.error(
                    "pool_state",
                    format!("unknown pool_state `{s}`"),
                    Some(hint),
                );
                None
            }),
        };
        let min_size = if w.has("min_size") {
            w.number("min_size", 0, 10_000).map(|n| n as u32)
        } else {
            Some(0)
        };
        let prepared = w
            .number_or_unset("max_group_prepared_capacity", 0, 10_000)
            .map(|v| v.map(|n| n as u32));
        let reuse = match w.block("instance_reuse_policy") {
            Some(p) if p.has("reuse_on_scale_in") => p.bool("reuse_on_scale_in"),
            _ => Some(false),
        };
        Some(Some(WarmPool {
            pool_state: pool_state?,
            min_size: min_size?,
            max_group_prepared_capacity: prepared?,
            reuse_on_scale_in: reuse?,
        }))
    }

    /// `instance_refresh { strategy preferences { … } triggers }`.
    pub(super) fn instance_refresh(&self) -> Option<Option<InstanceRefreshSpec>> {
        let Some(b) = self.r.block("instance_refresh") else {
            return Some(None);
        };
        let strategy =
            b.required_string("strategy", "\"Rolling\"")
                .and_then(|s| match s.as_str() {
                    "Rolling" => Some(s),
                    other => {
                        b.error(
                            "strategy",
                            format!("unknown instance refresh strategy `{other}`"),
                            Some("use strategy = \"Rolling\" (the only one AWS has)".into()),
                        );
                        None
                    }
                });
        let preferences = match b.block("preferences") {
            Some(p) => refresh_preferences(&p),
            None => Some(RefreshPreferences::default()),
        };
        let triggers = if b.has("triggers") {
            b.strings("triggers").and_then(|names| {
                let mut ok = true;
                for n in &names {
                    if trigger_field(n).is_none() {
                        let hint = if matches!(
                            n.as_str(),
                            "launch_template" | "launch_configuration" | "mixed_instances_policy"
                        ) {
                            format!("`{n}` always triggers a refresh: remove it from triggers")
                        } else {
                            suggest::did_you_mean(n, TRIGGERS.iter().map(|(t, _)| *t))
                                .unwrap_or_else(|| {
                                    "name attributes of the group, e.g. triggers = [\"tag\"]".into()
                                })
                        };
                        b.error(
                            "triggers",
                            format!("`{n}` is not an attribute that can trigger a refresh"),
                            Some(hint),
                        );
                        ok = false;
                    }
                }
                ok.then_some(names)
            })
        } else {
            Some(Vec::new())
        };
        Some(Some(InstanceRefreshSpec {
            strategy: strategy?,
            preferences: preferences?,
            triggers: triggers?,
        }))
    }

    /// `suspended_processes = [...]`, AWS's process names.
    pub(super) fn suspended_processes(&self) -> Option<Vec<ScalingProcess>> {
        let r = self.r;
        if !r.has("suspended_processes") {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for n in r.strings("suspended_processes")? {
            match ScalingProcess::parse(&n) {
                Some(p) => out.push(p),
                None => {
                    let hint = suggest::did_you_mean(&n, ScalingProcess::NAMES.iter().copied())
                        .unwrap_or_else(|| format!("use {}", ScalingProcess::NAMES.join(", ")));
                    r.error(
                        "suspended_processes",
                        format!("unknown scaling process `{n}`"),
                        Some(hint),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// `max_instance_lifetime`: 0 (off) or 86400–31536000 seconds, as AWS validates it.
    pub(super) fn max_instance_lifetime(&self) -> Option<Option<Duration>> {
        let r = self.r;
        if !r.has("max_instance_lifetime") {
            return Some(None);
        }
        let secs = r.number("max_instance_lifetime", 0, u32::MAX.into())?;
        let (lo, hi) = model::autoscaling::MAX_INSTANCE_LIFETIME_RANGE;
        if secs == 0 {
            return Some(None);
        }
        if !(lo..=hi).contains(&secs) {
            r.error(
                "max_instance_lifetime",
                format!(
                    "{secs} s is out of range: AWS accepts 0 (no limit) or 86400 (one day) to \
                     31536000 (one year)"
                ),
                Some(
                    "set max_instance_lifetime = 86400 or more, or 0 to turn it off (to watch \
                     replacements quickly, use an instance refresh instead)"
                        .into(),
                ),
            );
            return None;
        }
        Some(Some(Duration::from_secs(secs)))
    }

    /// `default_instance_warmup`: 0–3600 s, or -1 (off, the default).
    pub(super) fn default_instance_warmup(&self) -> Option<Option<Duration>> {
        self.r
            .number_or_unset("default_instance_warmup", 0, 3600)
            .map(|v| v.map(Duration::from_secs))
    }
}

/// One hook's attributes, in an `initial_lifecycle_hook` block or the resource.
fn lifecycle_hook(r: &Reader<'_>) -> Option<LifecycleHook> {
    let name = r
        .required_string("name", "\"wait-for-boot\"")
        .and_then(|n| {
            if model::lifecycle_hook::valid_name(&n) {
                Some(n)
            } else {
                r.error(
                    "name",
                    format!(
                        "`{n}` is not a valid lifecycle hook name: AWS takes 1 to 255 letters, \
                     digits and -_/"
                    ),
                    Some("use a name such as \"wait-for-boot\"".into()),
                );
                None
            }
        });
    let transition = r
        .required_string(
            "lifecycle_transition",
            "\"autoscaling:EC2_INSTANCE_LAUNCHING\"",
        )
        .and_then(|t| {
            LifecycleTransition::parse(&t).or_else(|| {
                let hint = suggest::did_you_mean(&t, LifecycleTransition::NAMES.iter().copied())
                    .unwrap_or_else(|| {
                        format!("use \"{}\"", LifecycleTransition::NAMES.join("\" or \""))
                    });
                r.error(
                    "lifecycle_transition",
                    format!("unknown lifecycle_transition `{t}`"),
                    Some(hint),
                );
                None
            })
        });
    let (lo, hi) = model::lifecycle_hook::HEARTBEAT_TIMEOUT_RANGE;
    let heartbeat = if r.has("heartbeat_timeout") {
        r.number("heartbeat_timeout", lo, hi)
            .map(Duration::from_secs)
    } else {
        Some(model::lifecycle_hook::DEFAULT_HEARTBEAT_TIMEOUT)
    };
    let default_result = match r.string("default_result").as_deref() {
        None if r.has("default_result") => None,
        None => Some(LifecycleActionResult::Abandon),
        Some(s) => LifecycleActionResult::parse(s)
            .filter(|_| s == s.to_ascii_uppercase())
            .or_else(|| {
                r.error(
                    "default_result",
                    format!("unknown default_result `{s}`"),
                    Some("use \"CONTINUE\" or \"ABANDON\" (AWS's default)".into()),
                );
                None
            }),
    };
    let metadata = r.string("notification_metadata");
    if metadata.as_ref().is_some_and(|m| m.len() > 1023) {
        r.error(
            "notification_metadata",
            "notification_metadata is at most 1023 characters",
            None,
        );
        return None;
    }
    Some(LifecycleHook {
        name: name?,
        lifecycle_transition: transition?,
        heartbeat_timeout: heartbeat?,
        default_result: default_result?,
        notification_metadata: metadata,
    })
}

/// `instance_refresh.preferences { … }` with the Terraform provider's defaults.
fn refresh_preferences(p: &Reader<'_>) -> Option<RefreshPreferences> {
    let d = RefreshPreferences::default();
    let mut ok = true;
    for unsupported in ["auto_rollback"] {
        if p.bool(unsupported) == Some(true) {
            p.error(
                unsupported,
                "automatic rollback is not supported yet by this version of updraft",
                Some("remove auto_rollback, or set it to false".into()),
            );
            ok = false;
        }
    }
    if p.block("alarm_specification").is_some() {
        p.error(
            "alarm_specification",
            "alarm-based rollback is not supported yet by this version of updraft",
            Some("remove the alarm_specification block".into()),
        );
        ok = false;
    }
    let pct = |name: &str, default: u32| -> Option<u32> {
        if p.has(name) {
            p.number(name, 0, 200).map(|n| n as u32)
        } else {
            Some(default)
        }
    };
    let secs = |name: &str| -> Option<Option<Duration>> {
        if p.has(name) {
            p.number(name, 0, 172_800)
                .map(|n| Some(Duration::from_secs(n)))
        } else {
            Some(None)
        }
    };
    let protected = match p.string("scale_in_protected_instances").as_deref() {
        None if p.has("scale_in_protected_instances") => None,
        None => Some(d.scale_in_protected_instances),
        Some(s) => ProtectedInstances::parse(s).or_else(|| {
            p.error(
                "scale_in_protected_instances",
                format!("unknown scale_in_protected_instances `{s}`"),
                Some("use \"Refresh\", \"Ignore\" (the default) or \"Wait\"".into()),
            );
            None
        }),
    };
    match p.string("standby_instances").as_deref() {
        None | Some("Terminate" | "Ignore" | "Wait") => {}
        Some(s) => {
            p.error(
                "standby_instances",
                format!("unknown standby_instances `{s}`"),
                Some("use \"Terminate\", \"Ignore\" (the default) or \"Wait\"".into()),
            );
            ok = false;
        }
    }
    let checkpoints = if p.has("checkpoint_percentages") {
        p.numbers("checkpoint_percentages", 1, 100)
            .map(|v| v.into_iter().map(|n| n as u32).collect())
    } else {
        Some(Vec::new())
    };
    let prefs = RefreshPreferences {
        min_healthy_percentage: pct("min_healthy_percentage", d.min_healthy_percentage)?,
        max_healthy_percentage: pct("max_healthy_percentage", d.max_healthy_percentage)?,
        instance_warmup: secs("instance_warmup")?,
        skip_matching: if p.has("skip_matching") {
            p.bool("skip_matching")?
        } else {
            false
        },
        checkpoint_percentages: checkpoints?,
        checkpoint_delay: secs("checkpoint_delay")?,
        scale_in_protected_instances: protected?,
    };
    for v in prefs.validate("") {
        p.error(&v.attribute, v.message, v.hint);
        ok = false;
    }
    ok.then_some(prefs)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;

    use model::{
        LifecycleActionResult, LifecycleTransition, ProtectedInstances, ScalingProcess,
        TerminationPolicy, WarmPoolState,
    };

    use crate::{ConfigError, Loaded};

    const GROUP: &str = r#"resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "10.0.1.0/24"
}

resource "aws_launch_template" "web" {
  instance_type = "t3.micro"
  user_data     = base64encode("exec ./app")
}

resource "aws_autoscaling_group" "web" {
  name                = "web"
  min_size            = 1
  max_size            = 6
  vpc_zone_identifier = [aws_subnet.a.id]
  launch_template {
    id = aws_launch_template.web.id
  }
  # EXTRA
}
"#;

    fn with_group(extra: &str) -> String {
        GROUP.replace("  # EXTRA\n", extra)
    }

    fn load(text: &str) -> Result<Loaded, Vec<ConfigError>> {
        crate::load_str("main.tf", text, &BTreeMap::new(), Path::new(".")).map_err(|e| e.0)
    }

    #[track_caller]
    fn one_error(text: &str) -> ConfigError {
        let e = load(text).expect_err("expected an error");
        assert_eq!(e.len(), 1, "{e:?}");
        e.into_iter().next().unwrap()
    }

    fn line_of(text: &str, needle: &str) -> u32 {
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in text"));
        text[..at].matches('\n').count() as u32 + 1
    }

    #[test]
    fn every_group_feature_decodes_with_aws_defaults() {
        let text = with_group(
            r#"  default_instance_warmup = 60
  max_instance_lifetime   = 86400
  protect_from_scale_in   = true
  suspended_processes     = ["AZRebalance"]
  termination_policies    = ["OldestLaunchConfiguration", "AllocationStrategy", "Default"]
  initial_lifecycle_hook {
    name                 = "boot"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
  }
  warm_pool {
    pool_state                  = "Hibernated"
    min_size                    = 1
    max_group_prepared_capacity = -1
    instance_reuse_policy {
      reuse_on_scale_in = true
    }
  }
  instance_refresh {
    strategy = "Rolling"
    triggers = ["tag", "max_size"]
    preferences {
      min_healthy_percentage = 50
      instance_warmup        = "30"
      checkpoint_percentages = [50, 100]
      skip_matching          = true
    }
  }
"#,
        );
        let text = format!(
            "{text}\nresource \"aws_autoscaling_lifecycle_hook\" \"drain\" {{\n  name                   = \"drain\"\n  autoscaling_group_name = aws_autoscaling_group.web.name\n  lifecycle_transition   = \"autoscaling:EC2_INSTANCE_TERMINATING\"\n  heartbeat_timeout      = 120\n  default_result         = \"CONTINUE\"\n}}\n"
        );
        let loaded = load(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let g = &loaded.stack.auto_scaling_groups["web"];
        assert_eq!(g.default_instance_warmup, Some(Duration::from_secs(60)));
        assert_eq!(g.max_instance_lifetime, Some(Duration::from_secs(86_400)));
        assert_eq!(g.suspended_processes, vec![ScalingProcess::AZRebalance]);
        assert_eq!(
            g.termination_policies[0],
            TerminationPolicy::OldestLaunchConfiguration
        );
        let hook = &g.initial_lifecycle_hooks[0];
        assert_eq!(hook.heartbeat_timeout, Duration::from_secs(3600));
        assert_eq!(hook.default_result, LifecycleActionResult::Abandon);
        let pool = g.warm_pool.as_ref().unwrap();
        assert_eq!(pool.pool_state, WarmPoolState::Hibernated);
        assert_eq!(pool.max_group_prepared_capacity, None);
        assert!(pool.reuse_on_scale_in);
        let r = g.instance_refresh.as_ref().unwrap();
        assert_eq!(r.preferences.min_healthy_percentage, 50);
        assert_eq!(r.preferences.max_healthy_percentage, 100);
        assert_eq!(r.preferences.instance_warmup, Some(Duration::from_secs(30)));
        assert_eq!(
            r.preferences.scale_in_protected_instances,
            ProtectedInstances::Ignore
        );
        let hooks = loaded.stack.lifecycle_hooks_of(g);
        assert_eq!(hooks.len(), 2);
        assert_eq!(
            hooks[1].lifecycle_transition,
            LifecycleTransition::InstanceTerminating
        );
        assert_eq!(hooks[1].default_result, LifecycleActionResult::Continue);
    }

    #[test]
    fn off_values_are_accepted_like_aws() {
        let text = with_group("  max_instance_lifetime = 0\n  default_instance_warmup = -1\n");
        let g = &load(&text).unwrap().stack.auto_scaling_groups["web"];
        assert_eq!(g.max_instance_lifetime, None);
        assert_eq!(g.default_instance_warmup, None);
    }

    #[test]
    fn lifetime_and_warmup_outside_aws_ranges_point_at_the_line() {
        let text = with_group("  max_instance_lifetime = 3600\n");
        let e = one_error(&text);
        assert_eq!(e.attribute.as_deref(), Some("max_instance_lifetime"));
        assert_eq!(
            e.location.unwrap().line,
            line_of(&text, "max_instance_lifetime")
        );
        assert!(e.message.contains("86400 (one day)"), "{}", e.message);
        assert!(e.hint.unwrap().contains("0 to turn it off"));

        let text = with_group("  default_instance_warmup = 3601\n");
        let e = one_error(&text);
        assert_eq!(
            e.message,
            "expected -1 or a whole number from 0 to 3600, got 3601"
        );
    }

    #[test]
    fn hooks_are_checked_where_they_are_written() {
        let text = with_group(
            "  initial_lifecycle_hook {\n    name                 = \"boot\"\n    lifecycle_transition = \"autoscaling:EC2_INSTANCE_LAUNCHNG\"\n    heartbeat_timeout    = 10\n  }\n",
        );
        let e = load(&text).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            e[0].attribute.as_deref(),
            Some("initial_lifecycle_hook.lifecycle_transition")
        );
        assert_eq!(
            e[0].hint.as_deref(),
            Some("did you mean `autoscaling:EC2_INSTANCE_LAUNCHING`?")
        );
        assert_eq!(
            e[1].attribute.as_deref(),
            Some("initial_lifecycle_hook.heartbeat_timeout")
        );
        assert_eq!(
            e[1].location.as_ref().unwrap().line,
            line_of(&text, "heartbeat_timeout")
        );

        let dup = "  initial_lifecycle_hook {\n    name                 = \"boot\"\n    lifecycle_transition = \"autoscaling:EC2_INSTANCE_LAUNCHING\"\n  }\n";
        let text = with_group(&format!("{dup}{dup}"));
        let e = one_error(&text);
        assert!(e.message.contains("two lifecycle hooks"), "{}", e.message);

        let text = format!(
            "{}\nresource \"aws_autoscaling_lifecycle_hook\" \"again\" {{\n  name                   = \"boot\"\n  autoscaling_group_name = aws_autoscaling_group.web.name\n  lifecycle_transition   = \"autoscaling:EC2_INSTANCE_LAUNCHING\"\n  default_result         = \"continue\"\n}}\n",
            with_group(dup)
        );
        let e = load(&text).unwrap_err();
        assert_eq!(e[0].attribute.as_deref(), Some("default_result"));
        let text = text.replace("\"continue\"", "\"CONTINUE\"");
        let e = one_error(&text);
        assert_eq!(
            e.message,
            "group `web` already has a lifecycle hook named `boot`"
        );
    }

    #[test]
    fn warm_pool_mistakes() {
        let text = with_group(
            "  warm_pool {\n    pool_state = \"Stoped\"\n    max_group_prepared_capacity = -2\n  }\n",
        );
        let e = load(&text).unwrap_err();
        assert_eq!(e[0].attribute.as_deref(), Some("warm_pool.pool_state"));
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `Stopped`?"));
        assert_eq!(
            e[1].attribute.as_deref(),
            Some("warm_pool.max_group_prepared_capacity")
        );
    }

    #[test]
    fn instance_refresh_mistakes() {
        let text = with_group(
            "  instance_refresh {\n    strategy = \"Blue\"\n    triggers = [\"launch_template\"]\n    preferences {\n      min_healthy_percentage = 50\n      max_healthy_percentage = 200\n      checkpoint_percentages = [50, 20]\n      auto_rollback = true\n    }\n  }\n",
        );
        let e = load(&text).unwrap_err();
        let attrs: Vec<_> = e
            .iter()
            .map(|e| e.attribute.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            attrs,
            vec![
                "instance_refresh.strategy",
                "instance_refresh.triggers",
                "instance_refresh.preferences.max_healthy_percentage",
                "instance_refresh.preferences.checkpoint_percentages",
                "instance_refresh.preferences.auto_rollback",
            ],
            "errors come in line order: {e:?}"
        );
        assert_eq!(
            e[2].location.as_ref().unwrap().line,
            line_of(&text, "max_healthy_percentage")
        );
        assert!(e[1].hint.as_ref().unwrap().contains("always triggers"));
    }

    #[test]
    fn process_and_policy_names_are_aws_names() {
        let e = one_error(&with_group("  suspended_processes = [\"AzRebalance\"]\n"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `AZRebalance`?"));
        let e = one_error(&with_group(
            "  termination_policies = [\"arn:aws:lambda:us-east-1:123456789012:function:pick\"]\n",
        ));
        assert!(e.message.contains("Lambda"), "{}", e.message);
    }
}

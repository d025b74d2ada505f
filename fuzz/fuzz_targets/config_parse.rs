//! Arbitrary UTF-8 through the whole configuration pipeline (parse, evaluate, decode): it may be
//! rejected with errors, it must never panic, and an accepted config must be self-consistent.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match config::load_str("fuzz.tf", text, &BTreeMap::new(), Path::new(".")) {
        Ok(loaded) => {
            // Every group refers to subnets, target groups and a template of the same stack.
            let stack: &model::Stack = &loaded.stack;
            for g in stack.auto_scaling_groups.values() {
                assert!(g.subnets.iter().all(|s| stack.subnets.contains_key(s)));
                assert!(g.target_groups.iter().all(|t| stack.target_groups.contains_key(t)));
                assert!(stack.launch_template_of(g).is_some());
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            let _ = errors.to_string();
        }
    }
});

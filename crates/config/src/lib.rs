//! updraft's configuration: Terraform syntax (HCL) with the Terraform AWS provider's resource
//! types and attribute names, evaluated and validated into a [`model::Stack`].
//!
//! A file reads like AWS Terraform because it is AWS Terraform: `aws_subnet`, `aws_lb`,
//! `aws_lb_target_group`, `aws_lb_listener`, `aws_launch_template`, `aws_autoscaling_group`,
//! with variables, locals, `count` / `for_each`, `dynamic` blocks, heredocs and the common
//! built-in functions. Networking, IAM and logging resources are accepted and recorded; resource
//! types planned for later are rejected as "not supported yet" rather than silently ignored.
//!
//! # Pipeline
//!
//! `decl` parses with `hcl-edit` (which keeps spans, hence lines) and sorts the top-level
//! blocks → `eval` analyses references, orders and evaluates everything with `hcl-rs`, giving
//! each resource the ids and ARNs AWS would compute → `decode` maps instances onto `model`
//! types, turning ids and ARNs back into resource names, and cross-checks them.
//!
//! # Invariants
//!
//! - Every problem found is reported, each with file, line, resource, attribute and a hint; they
//!   come back together, sorted by file and line ([`ConfigErrors`]).
//! - Nothing is half-applied: any error means `Err`, never a partial stack.
//! - The only I/O is reading the configuration files and the files named by `file()` and
//!   `templatefile()` (relative to the working directory, as in Terraform). No clock, no
//!   network, no environment variables: the CLI folds `TF_VAR_*` into `vars` itself.
//! - Same input, same output: ids and ARNs are derived from resource names, not random.

mod decl;
mod decode;
mod error;
mod eval;
mod functions;
mod kinds;
pub mod plan;
mod refs;
mod schema;
mod source;
mod suggest;
mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors};
pub use plan::{Change, ChangeAction, Plan, carry_launch_template_versions, plan};

/// A loaded configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub stack: model::Stack,
    /// Where every resource and attribute was written, for errors found later (at apply time).
    pub sources: model::SourceMap,
    /// The files read, in the order read (a directory's `*.tf` files sorted by name).
    pub files: Vec<PathBuf>,
}

/// Loads `path`: one `.tf` file, or every `*.tf` file of a directory (sorted by name, as
/// Terraform reads a module).
///
/// `vars` are `-var name=value` overrides (the CLI folds `TF_VAR_name` into them). Each is
/// converted to the variable's declared type (or its default's type): numbers, bools, strings,
/// and lists/maps written in HCL syntax (`zones=["a","b"]`). A name no variable declares is
/// ignored, as Terraform ignores stray `TF_VAR_`s, unless it is a likely typo of a declared one
/// (`regoin` for `region`): that is an error.
pub fn load(path: &Path, vars: &BTreeMap<String, String>) -> Result<Loaded, ConfigErrors> {
    let fail =
        |message: String, hint: &str| Err(ConfigErrors(vec![ConfigError::new(message).hint(hint)]));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return fail(
                format!("cannot read `{}`: {e}", path.display()),
                "pass a .tf file or a directory of .tf files",
            );
        }
    };
    let (files, base_dir) = if meta.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                return fail(
                    format!("cannot list `{}`: {e}", path.display()),
                    "check the directory's permissions",
                );
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return fail(
                format!("no .tf files in `{}`", path.display()),
                "point updraft at the directory that holds your main.tf",
            );
        }
        (files, path.to_path_buf())
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (vec![path.to_path_buf()], parent.to_path_buf())
    };
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(text) => sources.push((f.display().to_string(), text)),
            Err(e) => errors.push(
                ConfigError::new(format!("cannot read `{}`: {e}", f.display()))
                    .hint("configuration files must be readable UTF-8 text"),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors::sorted(errors));
    }
    load_sources(&sources, files, vars, &base_dir)
}

/// Loads one configuration text. `file_name` is how locations name it (and what
/// [`Loaded::files`] lists); `base_dir` is the module directory (`path.module`). Reads no files
/// unless the text calls `file()` or `templatefile()`.
pub fn load_str(
    file_name: &str,
    text: &str,
    vars: &BTreeMap<String, String>,
    base_dir: &Path,
) -> Result<Loaded, ConfigErrors> {
    let sources = [(file_name.to_owned(), text.to_owned())];
    load_sources(&sources, vec![PathBuf::from(file_name)], vars, base_dir)
}

fn load_sources(
    sources: &[(String, String)],
    files: Vec<PathBuf>,
    vars: &BTreeMap<String, String>,
    base_dir: &Path,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let decls = decl::collect(sources, &mut errors);
    if errors.iter().any(|e| e.message.starts_with("syntax error")) {
        // Half-parsed files would only add follow-up errors about missing declarations.
        errors.retain(|e| e.message.starts_with("syntax error"));
        return Err(ConfigErrors::sorted(errors));
    }
    let evaluated = eval::evaluate(&decls, vars, base_dir, &mut errors);
    let (stack, source_map) = decode::decode(&evaluated, &mut errors);
    if errors.is_empty() {
        Ok(Loaded {
            stack,
            sources: source_map,
            files,
        })
    } else {
        Err(ConfigErrors::sorted(errors))
    }
}

//! Finding the configuration to run.

use std::path::{Path, PathBuf};

/// The bundled example, relative to the repository root.
pub const DEFAULT_EXAMPLE: &str = "examples/mylearning";

/// The config to run when none is given: `examples/mylearning` under the current directory,
/// else under an ancestor of the `updraft` executable (so `target/release/updraft up` works
/// from anywhere inside a checkout).
pub fn default_config() -> Result<PathBuf, String> {
    let mut candidates = vec![PathBuf::from(DEFAULT_EXAMPLE)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|dir| dir.join(DEFAULT_EXAMPLE)));
    }
    candidates
        .into_iter()
        .find(|p| p.join("main.tf").is_file())
        .ok_or_else(|| {
            format!(
                "no CONFIG given and the bundled example ({DEFAULT_EXAMPLE}) is not here; \
                 pass a .tf file or a directory of .tf files, e.g. `updraft up path/to/stack.tf`"
            )
        })
}

/// A path as users should see it: relative to the current directory when it is below it.
pub fn display(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

//! Terraform-syntax (HCL) configuration: parse, evaluate, validate into a model::Stack with file:line errors. Reads files, nothing else.

mod decl;
mod error;
mod functions;
mod kinds;
mod refs;
mod source;
mod suggest;
mod types;

pub use error::{ConfigError, ConfigErrors};

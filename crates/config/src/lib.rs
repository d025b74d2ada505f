//! Terraform-syntax (HCL) configuration: parse, evaluate, validate into a model::Stack with file:line errors. Reads files, nothing else.

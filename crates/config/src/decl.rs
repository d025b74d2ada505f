//! Parsing and the first pass over the top-level blocks: what each file declares (variables,
//! locals, provider, data sources, resources, outputs), with duplicate names, malformed blocks and
//! unsupported resource types reported here, before any evaluation.

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body};
use model::Location;

use crate::error::ConfigError;
use crate::kinds::{self, Support};
use crate::source::SourceFile;

/// A labelled top-level block: a resource, a data source, a variable or an output.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Resource or data source type as written (`aws_lb`); empty for variables and outputs.
    pub kind: String,
    pub name: String,
    /// Index into [`Declarations::files`].
    pub file: usize,
    pub at: Location,
    pub body: Body,
    /// A resource whose type is rejected (not supported yet, unknown). It has been reported;
    /// whatever refers to it is skipped without more errors.
    pub rejected: bool,
}

impl Item {
    pub fn address(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }
}

/// One entry of a `locals` block.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub name: String,
    pub file: usize,
    pub at: Location,
    pub expr: Expression,
}

/// Everything the files declare.
#[derive(Debug, Default)]
pub(crate) struct Declarations {
    pub files: Vec<SourceFile>,
    pub variables: Vec<Item>,
    pub locals: Vec<Local>,
    /// The body of `provider "aws"` without `alias`, if any.
    pub provider: Option<Item>,
    pub data: Vec<Item>,
    pub resources: Vec<Item>,
    pub outputs: Vec<Item>,
}

/// Terraform's rule for names: a letter or underscore, then letters, digits, `_` and `-`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses every file and sorts its blocks into [`Declarations`]. Files that do not parse
/// contribute one error each and nothing else.
pub(crate) fn collect(sources: &[(String, String)], errors: &mut Vec<ConfigError>) -> Declarations {
    let mut d = Declarations::default();
    for (name, text) in sources {
        let file = SourceFile::new(name.clone(), text);
        let idx = d.files.len();
        match hcl_edit::parser::parse_body(text) {
            Ok(body) => {
                d.files.push(file);
                for attr in body.attributes() {
                    errors.push(
                        ConfigError::new(format!(
                            "`{}` is an attribute outside of any block",
                            attr.key.as_str()
                        ))
                        .at(d.files[idx].at(attr))
                        .hint(
                            "attributes go inside a resource, variable, locals or provider block",
                        ),
                    );
                }
                for block in body.into_blocks() {
                    d.add_block(idx, block, errors);
                }
            }
            Err(e) => {
                let line = u32::try_from(e.location().line()).unwrap_or(u32::MAX);
                errors.push(
                    ConfigError::new(format!("syntax error: {}", e.message()))
                        .at(file.location_of_line(line))
                        .hint(format!(
                            "check column {} of: {}",
                            e.location().column(),
                            e.line().trim()
                        )),
                );
                d.files.push(file);
            }
        }
    }
    d.check_duplicates(errors);
    d
}

impl Declarations {
    fn add_block(&mut self, file: usize, block: Block, errors: &mut Vec<ConfigError>) {
        let at = self.files[file].at(&block);
        let ident = block.ident.as_str().to_owned();
        let labels: Vec<String> = block.labels.iter().map(|l| l.as_str().to_owned()).collect();
        let expected = match ident.as_str() {
            "resource" | "data" => 2,
            "variable" | "output" | "provider" | "module" => 1,
            _ => 0,
        };
        let known = [
            "terraform",
            "provider",
            "variable",
            "locals",
            "output",
            "data",
            "resource",
            "module",
            "moved",
            "import",
            "removed",
            "check",
        ];
        if !known.contains(&ident.as_str()) {
            errors.push(
                ConfigError::new(format!("unknown block type `{ident}`"))
                    .at(at)
                    .hint(
                        crate::suggest::did_you_mean(&ident, known).unwrap_or_else(|| {
                            format!("top-level blocks are {}", known.join(", "))
                        }),
                    ),
            );
            return;
        }
        if ["moved", "import", "removed", "check", "terraform"].contains(&ident.as_str()) {
            // State and tooling directives: they matter to Terraform's state, not to updraft.
            return;
        }
        if labels.len() != expected {
            errors.push(
                ConfigError::new(format!(
                    "a `{ident}` block takes {expected} label(s), found {}",
                    labels.len()
                ))
                .at(at)
                .hint(match ident.as_str() {
                    "resource" => "write resource \"aws_subnet\" \"a\" { … }",
                    "data" => "write data \"aws_ami\" \"app\" { … }",
                    "locals" => "write locals { name = value }",
                    _ => "write the block's name in quotes after its type",
                }),
            );
            return;
        }
        let item = |kind: &str, name: &str| Item {
            kind: kind.to_owned(),
            name: name.to_owned(),
            file,
            at: at.clone(),
            body: block.body.clone(),
            rejected: false,
        };
        match ident.as_str() {
            "locals" => {
                for attr in block.body.attributes() {
                    self.locals.push(Local {
                        name: attr.key.as_str().to_owned(),
                        file,
                        at: self.files[file].at(attr),
                        expr: attr.value.clone(),
                    });
                }
            }
            "variable" => self.variables.push(item("", &labels[0])),
            "output" => self.outputs.push(item("", &labels[0])),
            "provider" => {
                if labels[0] == "aws" && !block.body.has_attribute("alias") {
                    self.provider = Some(item("provider", "aws"));
                }
            }
            "module" => errors.push(
                ConfigError::new("modules are not supported yet by this version of updraft")
                    .address(format!("module.{}", labels[0]))
                    .at(at)
                    .hint("copy the module's resources into this configuration"),
            ),
            "data" => self.data.push(item(&labels[0], &labels[1])),
            _ => {
                let mut it = item(&labels[0], &labels[1]);
                if !valid_name(&it.name) {
                    errors.push(
                        ConfigError::new(format!("`{}` is not a valid resource name", it.name))
                            .at(at.clone())
                            .hint(
                                "start with a letter or `_`, then use letters, digits, `_` and `-`",
                            ),
                    );
                    it.rejected = true;
                }
                match kinds::support(&it.kind) {
                    Some(Support::Simulated | Support::Recorded { .. }) => {}
                    Some(Support::Later) => {
                        errors.push(
                            ConfigError::new(format!(
                                "`{}` is not supported yet by this version of updraft",
                                it.kind
                            ))
                            .address(it.address())
                            .at(at)
                            .hint("remove it (or comment it out) to run the rest of the stack"),
                        );
                        it.rejected = true;
                    }
                    None => {
                        errors.push(
                            ConfigError::new(format!("unknown resource type `{}`", it.kind))
                                .address(it.address())
                                .at(at)
                                .hint(kinds::unknown_type_hint(&it.kind)),
                        );
                        it.rejected = true;
                    }
                }
                self.resources.push(it);
            }
        }
    }

    fn check_duplicates(&self, errors: &mut Vec<ConfigError>) {
        let mut dup = |what: &str, names: Vec<(String, &Location)>| {
            let mut seen: Vec<(String, &Location)> = Vec::new();
            for (name, at) in names {
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    errors.push(
                        ConfigError::new(format!("{what} `{name}` is declared twice"))
                            .at(at.clone())
                            .hint(format!(
                                "the first declaration is at {first}; rename or remove one"
                            )),
                    );
                } else {
                    seen.push((name, at));
                }
            }
        };
        dup(
            "variable",
            self.variables
                .iter()
                .map(|v| (v.name.clone(), &v.at))
                .collect(),
        );
        dup(
            "local",
            self.locals
                .iter()
                .map(|l| (l.name.clone(), &l.at))
                .collect(),
        );
        dup(
            "output",
            self.outputs
                .iter()
                .map(|o| (o.name.clone(), &o.at))
                .collect(),
        );
        dup(
            "data source",
            self.data.iter().map(|d| (d.address(), &d.at)).collect(),
        );
        dup(
            "resource",
            self.resources
                .iter()
                .map(|r| (r.address(), &r.at))
                .collect(),
        );
    }

    pub fn file(&self, idx: usize) -> &SourceFile {
        &self.files[idx]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Declarations, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let d = collect(&[("main.tf".into(), text.into())], &mut errors);
        (d, errors)
    }

    #[test]
    fn sorts_blocks() {
        let (d, errors) = run(
            "terraform {\n}\nprovider \"aws\" {\n region = \"eu-west-3\"\n}\n\
             variable \"x\" {}\nlocals {\n a = 1\n b = 2\n}\n\
             data \"aws_ami\" \"app\" {}\nresource \"aws_subnet\" \"a\" {}\noutput \"o\" {\n value = 1\n}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(d.variables[0].name, "x");
        assert_eq!(d.locals.len(), 2);
        assert_eq!(d.locals[1].at.line, 9);
        assert!(d.provider.is_some());
        assert_eq!(d.data[0].address(), "aws_ami.app");
        assert_eq!(d.resources[0].at.line, 12);
        assert_eq!(d.outputs.len(), 1);
    }

    #[test]
    fn rejects_bad_blocks_with_lines() {
        let (d, errors) = run(
            "resource \"aws_instance\" \"x\" {}\nresource \"aws_subnet\" {}\n\
             resourse \"aws_lb\" \"y\" {}\nresource \"aws_elasticache_replication_group\" \"db\" {}\n\
             variable \"v\" {}\nvariable \"v\" {}\n",
        );
        let lines: Vec<_> = errors
            .iter()
            .map(|e| e.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, [1, 2, 3, 4, 6]);
        assert!(
            errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("aws_autoscaling_group")
        );
        assert_eq!(errors[2].hint.as_deref(), Some("did you mean `resource`?"));
        assert!(errors[3].message.contains("not supported yet"));
        assert!(d.resources.iter().all(|r| r.rejected));
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let (_, errors) = run("resource \"aws_subnet\" \"a\" {\n  cidr_block = \n}\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("syntax error"));
        assert_eq!(errors[0].location.as_ref().unwrap().line, 2);
    }
}

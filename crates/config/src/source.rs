//! Source files and positions: turns the byte spans `hcl-edit` keeps into 1-based `file:line`
//! [`Location`]s.

use std::ops::Range;

use hcl_edit::Span;
use model::Location;

/// One configuration file: its name as the user sees it and where each line starts.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub name: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            line_starts,
        }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> u32 {
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        u32::try_from(idx + 1).unwrap_or(u32::MAX)
    }

    pub fn location_of_line(&self, line: u32) -> Location {
        Location {
            file: self.name.clone(),
            line,
        }
    }

    /// Where a span starts; line 1 when the node carries no span (it was not produced by the
    /// parser, which never happens for parsed input).
    pub fn location(&self, span: Option<Range<usize>>) -> Location {
        let line = span.map_or(1, |s| self.line(s.start));
        self.location_of_line(line)
    }

    /// Where a parsed node starts.
    pub fn at(&self, node: &dyn Span) -> Location {
        self.location(node.span())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let f = SourceFile::new("main.tf", "a = 1\nb = 2\n\nc = 3");
        assert_eq!(f.line(0), 1);
        assert_eq!(f.line(5), 1);
        assert_eq!(f.line(6), 2);
        assert_eq!(f.line(12), 3);
        assert_eq!(f.line(13), 4);
        assert_eq!(f.line(1000), 4);
        assert_eq!(f.location(Some(6..11)).to_string(), "main.tf:2");
        assert_eq!(f.location(None).line, 1);
    }

    #[test]
    fn parsed_nodes_carry_their_line() {
        let text =
            "# comment\nresource \"aws_subnet\" \"a\" {\n  cidr_block = \"10.0.1.0/24\"\n}\n";
        let body = hcl_edit::parser::parse_body(text).unwrap();
        let f = SourceFile::new("main.tf", text);
        let block = body.blocks().next().unwrap();
        assert_eq!(f.at(block).line, 2);
        let attr = block.body.attributes().next().unwrap();
        assert_eq!(f.at(attr).line, 3);
        assert_eq!(f.at(&attr.value).line, 3);
    }
}

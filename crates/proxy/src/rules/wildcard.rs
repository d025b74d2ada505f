//! ALB's wildcard patterns: `*` matches any run of characters (possibly empty), `?` exactly
//! one; everything else literally, optionally ignoring ASCII case. Compiled once per snapshot.
//!
//! Matching is the classic two-pointer algorithm with one backtrack point: linear in the text
//! for patterns without `*`, and O(text × pattern) at worst, bounded here by AWS's 128-character
//! patterns, so a hostile request cannot make it expensive.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard {
    /// The pattern's bytes (lower-cased when case-insensitive).
    pattern: Box<[u8]>,
    case_insensitive: bool,
    /// No `*` or `?`: compare whole.
    literal: bool,
}

impl Wildcard {
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> Wildcard {
        let mut bytes = pattern.as_bytes().to_vec();
        if case_insensitive {
            bytes.make_ascii_lowercase();
        }
        Wildcard {
            literal: !bytes.iter().any(|b| matches!(b, b'*' | b'?')),
            pattern: bytes.into_boxed_slice(),
            case_insensitive,
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        let eq = |p: u8, t: u8| {
            if self.case_insensitive {
                p == t.to_ascii_lowercase()
            } else {
                p == t
            }
        };
        let p = &self.pattern;
        if self.literal {
            return p.len() == text.len() && p.iter().zip(text).all(|(a, b)| eq(*a, *b));
        }
        let (mut pi, mut ti) = (0, 0);
        // Where the last `*` was, and the text position it currently swallows up to.
        let mut star: Option<(usize, usize)> = None;
        while ti < text.len() {
            if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], text[ti]))) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Wildcard::new(pattern, false).matches(text)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("/img/*", "/img/a.png"));
        assert!(m("/img/*", "/img/"));
        assert!(!m("/img/*", "/img"));
        assert!(m("*.png", "/a/b.png"));
        assert!(m("/a?c", "/abc"));
        assert!(!m("/a?c", "/ac"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*a*a*a*a*a", "aaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!m("*a*a*a*a*b", &"a".repeat(4000)));
        assert!(m("/exact", "/exact"));
        assert!(!m("/exact", "/exactly"));
    }

    #[test]
    fn case() {
        assert!(!m("/API", "/api"));
        let host = Wildcard::new("*.Example.COM", true);
        assert!(host.matches("www.example.com"));
        assert!(host.matches("A.EXAMPLE.COM"));
        assert!(!host.matches("example.com"));
        assert!(Wildcard::new("EXAMPLE.com", true).matches("example.COM"));
    }
}

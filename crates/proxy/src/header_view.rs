//! A read-only view of a request's or response's headers, over either hyper's parsed
//! [`HeaderMap`] (HTTP/2, and HTTP/1.1 requests hyper serves) or the header slices httparse
//! returns (the HTTP/1.1 fast path, `crate::l7::h1`), so that rules, stickiness and logs read both
//! without copying headers into a map.
//!
//! Like [`http::HeaderValue::to_str`], values that are not visible ASCII are skipped.

use http::HeaderMap;
use http::header::ValueIter;

/// Headers, looked up by lowercase name.
#[derive(Debug, Clone, Copy)]
pub enum HeaderView<'a> {
    Map(&'a HeaderMap),
    Raw(&'a [httparse::Header<'a>]),
}

impl<'a> From<&'a HeaderMap> for HeaderView<'a> {
    fn from(map: &'a HeaderMap) -> Self {
        HeaderView::Map(map)
    }
}

impl<'a> HeaderView<'a> {
    /// Every value of header `name` (lowercase), in order.
    pub fn get_all(self, name: &'a str) -> Values<'a> {
        match self {
            HeaderView::Map(map) => Values::Map(map.get_all(name).iter()),
            HeaderView::Raw(headers) => Values::Raw { headers, name },
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn get(self, name: &'a str) -> Option<&'a str> {
        self.get_all(name).next()
    }
}

/// The values of one header; see [`HeaderView::get_all`].
#[derive(Debug)]
pub enum Values<'a> {
    Map(ValueIter<'a, http::HeaderValue>),
    Raw {
        headers: &'a [httparse::Header<'a>],
        name: &'a str,
    },
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Values::Map(values) => values.find_map(|v| v.to_str().ok()),
            Values::Raw { headers, name } => loop {
                let (first, rest) = headers.split_first()?;
                *headers = rest;
                if first.name.eq_ignore_ascii_case(name)
                    && let Some(v) = visible_ascii(first.value)
                {
                    return Some(v);
                }
            },
        }
    }
}

/// The value as text when it is visible ASCII (or tab), as `HeaderValue::to_str` requires.
pub(crate) fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn map_and_raw_views_agree() {
        let mut map = HeaderMap::new();
        map.append("cookie", HeaderValue::from_static("a=1"));
        map.append("x-other", HeaderValue::from_static("x"));
        map.append("cookie", HeaderValue::from_static("b=2"));
        map.append("cookie", HeaderValue::from_bytes(b"c=\xff").unwrap());
        let raw = [
            httparse::Header {
                name: "Cookie",
                value: b"a=1",
            },
            httparse::Header {
                name: "X-Other",
                value: b"x",
            },
            httparse::Header {
                name: "COOKIE",
                value: b"b=2",
            },
            httparse::Header {
                name: "cookie",
                value: b"c=\xff",
            },
        ];
        for view in [HeaderView::from(&map), HeaderView::Raw(&raw)] {
            assert_eq!(view.get_all("cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
            assert_eq!(view.get("x-other"), Some("x"));
            assert_eq!(view.get("host"), None);
        }
    }
}

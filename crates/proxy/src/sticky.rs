//! Stickiness cookies: ALB's `AWSALB` (target, `lb_cookie`), `AWSALBAPP-0` (target, following
//! an application cookie) and `AWSALBTG` (target group of a weighted forward).
//!
//! A cookie value is an opaque, tamper-proof token: the first 128 bits of
//! HMAC-SHA256(key, kind ‖ target group ‖ target id), hex-encoded. It reveals nothing about the
//! target, cannot be forged for another target without the key, and does not change when other
//! targets join or leave, so a client stays on its target when the group scales. The data plane
//! precomputes every target's token per snapshot and looks cookies up in a map; a token that
//! maps to nothing (target gone, or forged) is simply ignored and the request is balanced anew.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use http::HeaderValue;

use crate::HeaderView;
use sha2::Sha256;

pub(crate) const LB_COOKIE: &str = "AWSALB";
pub(crate) const APP_COOKIE: &str = "AWSALBAPP-0";
pub(crate) const GROUP_COOKIE: &str = "AWSALBTG";

/// The secret stickiness tokens are derived from (one per stack; see `DataPlaneOptions`).
#[derive(Clone)]
pub struct StickinessKey([u8; 32]);

impl StickinessKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        StickinessKey(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Self {
        StickinessKey(rand::random())
    }

    pub(crate) fn token(&self, kind: &str, group: &str, target: &str) -> Token {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in [kind, group, target] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let full = mac.finalize().into_bytes();
        let mut t = [0u8; 16];
        t.copy_from_slice(&full[..16]);
        Token(t)
    }
}

impl std::fmt::Debug for StickinessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StickinessKey(..)")
    }
}

/// 128 bits naming a target (or target group) to the holder of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Token([u8; 16]);

impl Token {
    pub(crate) fn encode(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    pub(crate) fn decode(s: &str) -> Option<Token> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let nibble = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
        let mut t = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            t[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Token(t))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Tokens of the members of a target group (or of the groups of a forward), by index.
#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    by_token: HashMap<Token, usize>,
    /// Ready-made cookie values, by index.
    values: Vec<String>,
}

impl TokenTable {
    pub(crate) fn new(tokens: impl IntoIterator<Item = Token>) -> Self {
        let mut table = TokenTable::default();
        for (i, t) in tokens.into_iter().enumerate() {
            table.by_token.insert(t, i);
            table.values.push(t.encode());
        }
        table
    }

    pub(crate) fn lookup(&self, cookie: &str) -> Option<usize> {
        self.by_token.get(&Token::decode(cookie)?).copied()
    }

    pub(crate) fn value(&self, i: usize) -> &str {
        &self.values[i]
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn find_cookie<'a>(headers: HeaderView<'a>, name: &str) -> Option<&'a str> {
    headers
        .get_all("cookie")
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"'))
        })
}

/// Whether the response sets cookie `name`.
pub(crate) fn sets_cookie(headers: HeaderView<'_>, name: &str) -> bool {
    headers
        .get_all("set-cookie")
        .any(|v| v.split_once('=').is_some_and(|(k, _)| k.trim() == name))
}

/// `Set-Cookie: NAME=VALUE; Max-Age=SECS; Path=/`.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let text = format!("{name}={value}; Max-Age={max_age_secs}; Path=/");
    // Names are constants, values hex, the age a number: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, header};

    #[test]
    fn tokens_are_stable_keyed_and_round_trip() {
        let k = StickinessKey::new([7; 32]);
        let a = k.token("target", "web", "i-1");
        assert_eq!(a, k.token("target", "web", "i-1"));
        assert_ne!(a, k.token("target", "web", "i-2"));
        assert_ne!(a, k.token("group", "web", "i-1"));
        assert_ne!(a, StickinessKey::new([8; 32]).token("target", "web", "i-1"));
        // Length-prefixed parts: ("ab","c") and ("a","bc") differ.
        assert_ne!(k.token("t", "ab", "c"), k.token("t", "a", "bc"));
        assert_eq!(Token::decode(&a.encode()), Some(a));
        assert_eq!(Token::decode("xyz"), None);
        assert_eq!(Token::decode(&"g".repeat(32)), None);
    }

    #[test]
    fn table_lookup_ignores_unknown_tokens() {
        let k = StickinessKey::new([1; 32]);
        let table = TokenTable::new(["a", "b"].map(|id| k.token("target", "web", id)));
        let b = table.value(1).to_owned();
        assert_eq!(table.lookup(&b), Some(1));
        assert_eq!(table.lookup(&k.token("target", "web", "c").encode()), None);
        let mut tampered = b.into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(table.lookup(&String::from_utf8(tampered).unwrap()), None);
    }

    #[test]
    fn cookies_are_found_and_set() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; AWSALB=xyz"));
        h.append(header::COOKIE, HeaderValue::from_static("session=\"s1\""));
        assert_eq!(find_cookie((&h).into(), "AWSALB"), Some("xyz"));
        assert_eq!(find_cookie((&h).into(), "session"), Some("s1"));
        assert_eq!(find_cookie((&h).into(), "AWSALBTG"), None);
        let mut r = HeaderMap::new();
        r.append(
            header::SET_COOKIE,
            HeaderValue::from_static("session=abc; Path=/"),
        );
        assert!(sets_cookie((&r).into(), "session"));
        assert!(!sets_cookie((&r).into(), "sess"));
        assert_eq!(
            set_cookie(LB_COOKIE, "00", 60),
            "AWSALB=00; Max-Age=60; Path=/"
        );
    }
}

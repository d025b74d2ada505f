//! Sessions that keep instances stateless: the session lives in a cookie signed with
//! HMAC-SHA256 (`ml_session=<payload>.<mac>`, both base64url), so any instance behind the load
//! balancer can read it and none has to remember it. All instances of a group share the secret
//! (`MYLEARNING_SESSION_SECRET`, set in the launch template's user data).
//!
//! Invariants: a cookie whose MAC does not verify (tampered, or signed with another secret) is
//! treated as no session; a session expires after [`MAX_AGE`]; user names are short printable
//! text, so a cookie never carries anything a header cannot.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Cookie name.
pub const COOKIE: &str = "ml_session";
/// Sessions last a day.
pub const MAX_AGE: i64 = 24 * 3600;
/// Used when no secret is configured; fine for a demo on one machine, and said so at startup.
pub const DEV_SECRET: &str = "mylearning-development-secret-change-me";

/// What a session holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// Seconds since the Unix epoch.
    pub issued_at: i64,
}

/// Signs and verifies session cookies.
#[derive(Clone)]
pub struct Sessions {
    key: Vec<u8>,
}

impl Sessions {
    pub fn new(secret: &str) -> Sessions {
        Sessions {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// The `Set-Cookie` value that starts `session`.
    pub fn set_cookie(&self, session: &Session) -> String {
        let payload = serde_json::to_vec(session).expect("a session serializes");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{COOKIE}={}.{}; Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The `Set-Cookie` value that ends the session.
    pub fn clear_cookie() -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }

    /// The session in a `Cookie` header, if it verifies and has not expired at `now`.
    pub fn read(&self, cookie_header: &str, now: i64) -> Option<Session> {
        let value = cookie_header
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, v)| v)?;
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        let session: Session = serde_json::from_slice(&payload).ok()?;
        (now - session.issued_at < MAX_AGE && session.issued_at <= now + 60).then_some(session)
    }
}

/// Checks a user name: 1–40 characters, letters, digits, `-`, `_`, `.` or spaces.
pub fn valid_user(name: &str) -> Result<&str, String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 40
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "`{name}` is not a user name: use 1 to 40 letters, digits, spaces, `-`, `_` or `.`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_signed_session_reads_back_on_any_instance_with_the_secret() {
        let a = Sessions::new("s3cret");
        let b = Sessions::new("s3cret");
        let s = Session {
            user: "ada".into(),
            issued_at: 1_000,
        };
        let set = a.set_cookie(&s);
        assert!(set.contains("HttpOnly") && set.contains("Max-Age=86400"));
        let header = format!("theme=dark; {}", cookie_of(&set));
        assert_eq!(b.read(&header, 2_000), Some(s.clone()));
        // Expired, from the future, another secret, tampered: no session.
        assert_eq!(b.read(&header, 1_000 + MAX_AGE), None);
        assert_eq!(b.read(&header, 0), None);
        assert_eq!(Sessions::new("other").read(&header, 2_000), None);
        let evil = Session {
            user: "root".into(),
            issued_at: 1_000,
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
        let tag = cookie_of(&set).rsplit_once('.').unwrap().1.to_owned();
        let forged = format!("{COOKIE}={forged_payload}.{tag}");
        assert_eq!(b.read(&forged, 2_000), None);
        for junk in [
            "",
            "ml_session=",
            "ml_session=abc",
            "ml_session=a.b.c",
            "x=y",
        ] {
            assert_eq!(b.read(junk, 2_000), None, "{junk}");
        }
        assert!(Sessions::clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn user_names_are_checked() {
        assert_eq!(valid_user(" Ada Lovelace "), Ok("Ada Lovelace"));
        for bad in ["", "a;b", "x\ny", &"n".repeat(41)] {
            assert!(valid_user(bad).is_err(), "{bad:?}");
        }
    }
}

//! PostgreSQL write-ahead log positions (`pg_lsn`): `16/B374D848` is the 64-bit byte position
//! `0x16_B374D848`. Parsing is its own function so that it can be fuzzed and tested on literals.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A WAL position in bytes. Ordered: a larger LSN has more of the WAL.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's text form, `X/Y` with each half at most 8 hex digits.
    pub fn parse(text: &str) -> Option<Lsn> {
        let (hi, lo) = text.trim().split_once('/')?;
        let half = |s: &str| {
            (!s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(s, 16).ok())
                .flatten()
        };
        Some(Lsn((u64::from(half(hi)?) << 32) | u64::from(half(lo)?)))
    }

    /// Bytes from `earlier` to `self`, zero if `earlier` is ahead.
    pub fn bytes_after(self, earlier: Lsn) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_postgres_text() {
        let l = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert!(Lsn::parse("0/3000060").unwrap() < Lsn::parse("1/0").unwrap());
        for bad in ["", "/", "0/", "x/1", "123456789/0", "1/2/3", "-1/0", "+1/0"] {
            assert_eq!(Lsn::parse(bad), None, "{bad}");
        }
        assert_eq!(Lsn(10).bytes_after(Lsn(4)), 6);
        assert_eq!(Lsn(4).bytes_after(Lsn(10)), 0);
    }
}

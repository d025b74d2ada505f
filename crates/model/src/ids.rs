//! Identifiers: EC2-style instance ids and Terraform resource addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An EC2-style instance id, `i-` followed by 17 lowercase hex digits.
///
/// Ids are minted by the shell that launches instances (it owns the randomness); pure code only
/// compares and orders them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId(String);

impl InstanceId {
    /// Builds the id whose hex digits are the low 68 bits of `bits`.
    pub fn from_bits(bits: u128) -> Self {
        InstanceId(format!("i-{:017x}", bits & ((1u128 << 68) - 1)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not an instance id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an instance id: expected `i-` followed by 8 to 17 hex digits")]
pub struct InvalidInstanceId(String);

impl FromStr for InstanceId {
    type Err = InvalidInstanceId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.strip_prefix("i-").is_some_and(|hex| {
            (8..=17).contains(&hex.len())
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(InstanceId(s.to_owned()))
        } else {
            Err(InvalidInstanceId(s.to_owned()))
        }
    }
}

impl TryFrom<String> for InstanceId {
    type Error = InvalidInstanceId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<InstanceId> for String {
    fn from(id: InstanceId) -> String {
        id.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Terraform resource address such as `aws_lb_target_group.web`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceAddress {
    /// Resource type, e.g. `aws_autoscaling_group`.
    pub kind: String,
    /// The block label the user chose, e.g. `web`.
    pub name: String,
}

impl ResourceAddress {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceAddress {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_look_like_ec2() {
        let id = InstanceId::from_bits(0xabc);
        assert_eq!(id.as_str(), "i-00000000000000abc");
        assert_eq!(
            "i-0123456789abcdef0"
                .parse::<InstanceId>()
                .unwrap()
                .as_str()
                .len(),
            19
        );
        assert!("i-XYZ".parse::<InstanceId>().is_err());
        assert!("web-1".parse::<InstanceId>().is_err());
    }

    #[test]
    fn addresses_print_like_terraform() {
        assert_eq!(
            ResourceAddress::new("aws_lb", "front").to_string(),
            "aws_lb.front"
        );
    }
}

//! IP address functions: `cidrsubnet` and `cidrhost` (IPv4; updraft's subnets are IPv4).

use std::net::Ipv4Addr;

use hcl::Value;
use hcl::eval::FuncArgs;
use ipnet::Ipv4Net;

use super::{integer, string};

fn prefix(v: &Value) -> Result<Ipv4Net, String> {
    let s = string(v, "the prefix")?;
    s.parse::<Ipv4Net>().map_err(|_| {
        if s.contains(':') {
            format!("{s:?}: only IPv4 prefixes are supported")
        } else {
            format!("{s:?} is not an IPv4 CIDR prefix such as \"10.0.0.0/16\"")
        }
    })
}

/// `cidrsubnet(prefix, newbits, netnum)`: the `netnum`th subnet of `prefix` that is `newbits`
/// longer.
pub(super) fn cidrsubnet(args: FuncArgs) -> Result<Value, String> {
    let base = prefix(&args[0])?;
    let newbits = integer(&args[1], "newbits")?;
    let netnum = integer(&args[2], "netnum")?;
    let new_len = i64::from(base.prefix_len()) + newbits;
    if newbits < 0 || new_len > 32 {
        return Err(format!(
            "cannot extend the /{} prefix by {newbits} bits: an IPv4 prefix is at most /32",
            base.prefix_len()
        ));
    }
    if netnum < 0 || (newbits < 63 && netnum >= (1i64 << newbits)) {
        return Err(format!("netnum {netnum} does not fit in {newbits} bits"));
    }
    let shift = 32 - new_len as u32;
    let offset = if shift >= 32 {
        0
    } else {
        (netnum as u32) << shift
    };
    let network = u32::from(base.network()) | offset;
    let net = Ipv4Net::new(Ipv4Addr::from(network), new_len as u8).map_err(|e| e.to_string())?;
    Ok(net.to_string().into())
}

/// `cidrhost(prefix, hostnum)`: a host address; negative numbers count from the end.
pub(super) fn cidrhost(args: FuncArgs) -> Result<Value, String> {
    let base = prefix(&args[0])?;
    let hostnum = integer(&args[1], "hostnum")?;
    let size = 1i64 << (32 - u32::from(base.prefix_len()));
    let n = if hostnum < 0 { size + hostnum } else { hostnum };
    if n < 0 || n >= size {
        return Err(format!("host number {hostnum} is outside {base}"));
    }
    let addr = u32::from(base.network()).wrapping_add(n as u32);
    Ok(Ipv4Addr::from(addr).to_string().into())
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{check, fails};

    #[test]
    fn subnets_like_terraform() {
        check("cidrsubnet(\"10.0.0.0/16\", 8, 2)", "\"10.0.2.0/24\"");
        check("cidrsubnet(\"172.16.0.0/12\", 4, 2)", "\"172.18.0.0/16\"");
        check("cidrsubnet(\"10.1.2.0/24\", 0, 0)", "\"10.1.2.0/24\"");
        check("cidrsubnet(\"127.0.0.0/8\", 16, 259)", "\"127.1.3.0/24\"");
        fails("cidrsubnet(\"10.0.0.0/16\", 20, 0)", "at most /32");
        fails("cidrsubnet(\"10.0.0.0/16\", 8, 256)", "does not fit");
        fails("cidrsubnet(\"fd00::/8\", 8, 1)", "only IPv4");
        fails("cidrsubnet(\"nope\", 8, 1)", "not an IPv4 CIDR");
    }

    #[test]
    fn hosts() {
        check("cidrhost(\"10.0.1.0/24\", 5)", "\"10.0.1.5\"");
        check("cidrhost(\"10.0.1.0/24\", -2)", "\"10.0.1.254\"");
        fails("cidrhost(\"10.0.1.0/24\", 256)", "outside");
    }
}

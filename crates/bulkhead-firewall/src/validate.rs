//! Input validation. Every value ends up as a separate argument of an `iptables` command (never
//! in a shell), but it also ends up in a rule: an interface name with `+` would be an iptables
//! wildcard, and a `:` in a name would make the rule tag ambiguous. So the alphabet is small.

use crate::FirewallError;

/// Longest project or network name. Keeps the tag `bulkhead:<project>:<network>` (at most
/// 9 + 100 + 1 + 100 = 210 bytes) below the 255-byte limit of the iptables comment match.
pub const MAX_NAME_LEN: usize = 100;

/// Longest Linux interface name (`IFNAMSIZ` is 16 including the terminating NUL).
pub const MAX_IFACE_LEN: usize = 15;

/// Checks a project or network name: 1 to [`MAX_NAME_LEN`] characters of `[a-z0-9_.-]`,
/// starting with a letter or digit.
pub fn name(field: &'static str, value: &str) -> Result<(), FirewallError> {
    let fail = |reason| {
        Err(FirewallError::InvalidName {
            field,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("must not be empty");
    }
    if value.len() > MAX_NAME_LEN {
        return fail("is longer than 100 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return fail("may only contain a-z, 0-9, '_', '.' and '-'");
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("must start with a letter or digit");
    }
    Ok(())
}

/// Checks a bridge interface name. Docker names user-defined bridges `br-<12 hex digits>`;
/// any other sane interface name is accepted too (`docker0`, a custom
/// `com.docker.network.bridge.name`): 1 to 15 characters of `[A-Za-z0-9_.-]`, starting with
/// a letter or digit. `+` (an iptables wildcard), `!`, `/`, `:` and whitespace are refused.
pub fn iface(value: &str) -> Result<(), FirewallError> {
    let fail = |reason| {
        Err(FirewallError::InvalidName {
            field: "bridge interface",
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("must not be empty");
    }
    if value.len() > MAX_IFACE_LEN {
        return fail("is longer than 15 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return fail("may only contain A-Z, a-z, 0-9, '_', '.' and '-'");
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("must start with a letter or digit");
    }
    if let Some(id) = value.strip_prefix("br-")
        && id.len() == 12
        && !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return fail("a Docker bridge is named br- and 12 lowercase hex digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_names() {
        for ok in [
            "shop",
            "shop-2",
            "a",
            "my_project.v1",
            "0day",
            &"x".repeat(100),
        ] {
            assert!(name("project", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "Shop",
            "shop:web",
            "-shop",
            ".shop",
            "_shop",
            "shop web",
            "shop;rm",
            "shop\n",
            "sh\"op",
            "é",
            &"x".repeat(101),
        ] {
            let err = name("network", bad).expect_err(bad);
            assert!(err.to_string().starts_with("invalid network"), "{err}");
        }
    }

    #[test]
    fn accepts_interfaces() {
        for ok in [
            "br-0123456789ab",
            "docker0",
            "eth0",
            "br0",
            "my-bridge.12",
            "a23456789012345",
        ] {
            assert!(iface(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rejects_bad_interfaces() {
        for bad in [
            "",
            "br+",
            "br-0123456789AB",
            "br-0123456789zz",
            "a234567890123456",
            "-i",
            "!br0",
            "br 0",
            "br/0",
            "br:0",
            ".",
            "..",
        ] {
            assert!(iface(bad).is_err(), "{bad:?}");
        }
    }
}

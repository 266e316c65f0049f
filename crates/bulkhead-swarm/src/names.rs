//! Names of Bulkhead's objects on a Swarm, checked against what the Swarm manager accepts
//! (swarmkit's `controlapi`): services `<project>-<service>` (a DNS label), secrets
//! `<project>-<name>-v<N>`, overlay networks as the caller names them.

/// Longest service or network name: a DNS label.
pub const MAX_SERVICE_NAME: usize = 63;
/// Longest secret name.
pub const MAX_SECRET_NAME: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "`{name}` is not a Swarm {what} name (letters and digits, `-` or `_` inside, at most {max} characters)"
    )]
    Invalid {
        what: &'static str,
        name: String,
        max: usize,
    },
}

/// The Swarm service of a Compose service: `<project>-<service>`.
pub fn service_name(project: &str, service: &str) -> Result<String, NameError> {
    let name = format!("{project}-{service}");
    dns_label(&name, "service")?;
    Ok(name)
}

/// An overlay network's name, checked like a service's.
pub fn network_name(name: &str) -> Result<(), NameError> {
    dns_label(name, "network")
}

/// The Swarm secret holding version `version` of `name`: `<project>-<name>-v<version>`
/// (Swarm secrets are immutable: each version is its own secret).
pub fn secret_name(project: &str, name: &str, version: u32) -> Result<String, NameError> {
    let full = format!("{project}-{name}-v{version}");
    let inner = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = full.as_bytes();
    let ok = full.len() <= MAX_SECRET_NAME
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| inner(*b));
    if ok {
        Ok(full)
    } else {
        Err(NameError::Invalid {
            what: "secret",
            name: full,
            max: MAX_SECRET_NAME,
        })
    }
}

/// swarmkit's `^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`, at most 63 characters.
fn dns_label(name: &str, what: &'static str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let ok = name.len() <= MAX_SERVICE_NAME
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(NameError::Invalid {
            what,
            name: name.to_string(),
            max: MAX_SERVICE_NAME,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_dns_labels() {
        assert_eq!(service_name("shop", "web"), Ok("shop-web".to_string()));
        assert_eq!(
            service_name("my_app", "db_1"),
            Ok("my_app-db_1".to_string())
        );
        for (project, service) in [
            ("shop", "web-"),
            ("shop", "we.b"),
            ("", "web"),
            ("a", &"x".repeat(62)),
        ] {
            assert!(
                service_name(project, service).is_err(),
                "{project}-{service}"
            );
        }
        assert!(service_name("a", &"x".repeat(61)).is_ok());
    }

    #[test]
    fn secret_names_carry_their_version() {
        assert_eq!(
            secret_name("shop", "db.password", 3),
            Ok("shop-db.password-v3".to_string())
        );
        assert!(secret_name("shop", "pw!", 1).is_err());
        assert!(secret_name("shop", &"x".repeat(60), 1).is_err());
    }
}

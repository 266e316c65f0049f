//! Whether this machine's kernel can carry an encrypted overlay: Docker encrypts overlay
//! traffic between nodes with IPsec ESP in transport mode (`rfc4106(gcm(aes))`). Without it
//! dockerd still creates the network, installs its policies, and fails to add the ESP states
//! (only its log says so); traffic across nodes is then dropped. The probe adds one such
//! state in a network namespace of its own that dies with the command (`unshare --net`), so
//! nothing is left behind.
//!
//! It answers for the kernel Bulkhead runs on: right when Bulkhead runs on a node of the
//! Swarm, and for the others only as far as their kernels are alike.

use std::process::{Command, Stdio};

/// What the probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpsecSupport {
    /// The kernel took an ESP state with Docker's algorithm.
    Available,
    /// The kernel refused it: encrypted overlays would drop traffic between nodes.
    Missing { reason: String },
    /// The probe could not run (not root, no `unshare` or `ip`): nothing is known.
    Unknown { reason: String },
}

/// The probe: `unshare --net ip xfrm state add ... aead 'rfc4106(gcm(aes))' ...`, as dockerd
/// adds its states (a 16-byte key plus a 4-byte salt, a 64-bit ICV). Blocking, a few ms.
pub fn probe() -> IpsecSupport {
    let output = Command::new("unshare")
        .args([
            "--net",
            "ip",
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x100",
            "reqid",
            "1",
            "mode",
            "transport",
            "aead",
            "rfc4106(gcm(aes))",
            "0x0000000000000000000000000000000000000000",
            "64",
        ])
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) => classify(out.status.success(), &String::from_utf8_lossy(&out.stderr)),
        Err(e) => IpsecSupport::Unknown {
            reason: format!("cannot run `unshare --net ip xfrm`: {e}"),
        },
    }
}

/// The kernel's answers that mean "no ESP here", as `ip` prints them.
const MISSING: &[&str] = &[
    "Requested AEAD algorithm not found",
    "Requested type not found",
    "Function not implemented",
    "Protocol not supported",
];

fn classify(success: bool, stderr: &str) -> IpsecSupport {
    if success {
        return IpsecSupport::Available;
    }
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message")
        .to_string();
    if MISSING.iter().any(|m| stderr.contains(m)) {
        IpsecSupport::Missing {
            reason: format!("the kernel refused an ESP state: {line}"),
        }
    } else {
        IpsecSupport::Unknown {
            reason: format!("the IPsec probe failed: {line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_refusals_mean_missing_anything_else_unknown() {
        assert_eq!(classify(true, ""), IpsecSupport::Available);
        for stderr in [
            "Error: Requested AEAD algorithm not found.\n",
            "Error: Requested type not found.\n",
            "RTNETLINK answers: Function not implemented\n",
        ] {
            assert!(
                matches!(classify(false, stderr), IpsecSupport::Missing { .. }),
                "{stderr}"
            );
        }
        let denied = classify(false, "unshare: unshare failed: Operation not permitted\n");
        assert_eq!(
            denied,
            IpsecSupport::Unknown {
                reason: "the IPsec probe failed: unshare: unshare failed: Operation not permitted"
                    .into()
            }
        );
    }
}

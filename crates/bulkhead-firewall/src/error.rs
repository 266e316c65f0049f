//! The error type of every firewall operation.

/// Why a firewall operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A project, network or interface name was rejected before any command ran.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidName {
        /// Which argument: `project`, `network` or `bridge interface`.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The firewall program could not be started (not installed, not executable).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program that was to be run.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The firewall program ran and reported a failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the message only (it was never run through a shell).
        command: String,
        /// `exit status N` or `killed by a signal`.
        status: String,
        /// What the program printed on stderr.
        stderr: String,
    },
    /// A chain bulkhead would rebuild or remove is used by rules it did not install for that
    /// network (a clash of chain-name hashes, or a rule written by hand). Nothing was changed
    /// in that chain.
    #[error("chain {chain} {reason}")]
    Conflict {
        /// The chain.
        chain: String,
        /// How it is in use.
        reason: &'static str,
    },
    /// The program's rule listing could not be understood.
    #[error("cannot parse the rules of chain {chain}: {reason} in line {line:?}")]
    Parse {
        /// The chain that was listed (`*` for a listing of all chains).
        chain: String,
        /// The offending line.
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

//! Running the firewall program: a seam so that unit tests can replace `iptables` with an
//! in-memory fake.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What a finished command reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunOutput {
    /// The exit code; `None` if the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the firewall program with the given arguments (no shell involved).
pub(crate) trait Exec: Send + Sync + std::fmt::Debug {
    /// The program name, for messages.
    fn program(&self) -> String;
    fn run(&self, args: &[String]) -> std::io::Result<RunOutput>;
    /// The companion restore program's name, for messages.
    fn restore_program(&self) -> String;
    /// Feeds `script` (iptables-restore format) to `<program>-restore -w --noflush`: every
    /// line applied in one transaction, or none.
    fn restore(&self, script: &str) -> std::io::Result<RunOutput>;
}

/// Runs a real program via [`Command`].
#[derive(Debug)]
pub(crate) struct SystemExec {
    pub program: OsString,
}

impl Exec for SystemExec {
    fn program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    fn run(&self, args: &[String]) -> std::io::Result<RunOutput> {
        let out = Command::new(&self.program)
            .args(args)
            // Messages are only shown to humans, but keep them stable.
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()?;
        Ok(RunOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn restore_program(&self) -> String {
        self.restore_path().to_string_lossy().into_owned()
    }

    fn restore(&self, script: &str) -> std::io::Result<RunOutput> {
        let mut child = Command::new(self.restore_path())
            .args(["-w", "--noflush"])
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let written = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(script.as_bytes()),
            None => Ok(()),
        };
        let out = child.wait_with_output()?;
        written?;
        Ok(RunOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

impl SystemExec {
    /// `iptables` → `iptables-restore`, `/usr/sbin/iptables-legacy` →
    /// `/usr/sbin/iptables-legacy-restore`: the restore program of the same backend.
    fn restore_path(&self) -> PathBuf {
        let mut name = self.program.clone();
        name.push("-restore");
        PathBuf::from(name)
    }
}

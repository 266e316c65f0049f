//! The command line as data (clap derive): every command, its flags and their help. Docker
//! Compose's verbs and flags where they exist.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use bulkhead_app::project::{Origin, ProjectOptions};

#[derive(Parser)]
#[command(
    name = "bulkhead",
    version,
    about = "Secure-by-default microservices on Docker, from a Compose file",
    after_help = "Commands talk to a server when BULKHEAD_URL and BULKHEAD_TOKEN are set (BULKHEAD_CA: \
its CA), else after `bulkhead login`; otherwise they run embedded on the local state directory.

The project options (-f, -p, --project-directory, --profile, --env-file, --allow-host-path) and
--state-dir go before the command as in `docker compose -f FILE up`, or after it. Before `logs`,
-f is the file; after it, --follow.

Exit codes: 0 success; 1 refused or failed; 2 bad usage or unreadable input; 3 the environment
cannot be used (no Docker Engine or server answers)."
)]
pub struct Cli {
    /// Options given before the command (merged into the command's own).
    #[command(flatten)]
    pub before: BeforeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The options accepted before the command, as `docker compose -f FILE -p NAME up` takes them.
#[derive(Args)]
pub struct BeforeArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse and validate the spec and print the verdict per service; changes nothing.
    Check {
        #[command(flatten)]
        project: ProjectArgs,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Write what the images need to run hardened as compose.bulkhead.yaml beside the
        /// Compose file (docs/real-images.md).
        #[arg(long)]
        fix: bool,
        /// Where it would run: `engine` (one Docker Engine) or `swarm` (also lists, per
        /// service, the rules a Swarm would not enforce and the settings it cannot carry).
        #[arg(long, value_enum, default_value_t = Backend::Engine)]
        backend: Backend,
    },
    /// Run a service's image briefly in a sandbox (no network, writable root) and propose a
    /// tmpfs or volume for each path it wrote.
    Learn {
        #[command(flatten)]
        project: ProjectArgs,
        /// The service to run.
        service: String,
        /// How long the sandboxed run lasts, in seconds (at most 300).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Merge the proposal into compose.bulkhead.yaml.
        #[arg(long)]
        fix: bool,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build, deploy hardened, wait until healthy and return, the containers left running in
    /// the background (as `docker compose up -d`); a second run changes nothing.
    Up {
        #[command(flatten)]
        common: CommonArgs,
        /// Accepted for docker compose habits: `up` always detaches once the services are ready.
        #[arg(short = 'd', long)]
        detach: bool,
    },
    /// Print what `up` would do, without doing it.
    Plan {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List the project's containers.
    Ps {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print a service's logs (`-f` is --follow here, as in docker compose; the file is --file).
    #[command(mut_arg("files", |a| a.short(None)))]
    Logs {
        #[command(flatten)]
        common: CommonArgs,
        /// The service.
        service: String,
        /// Keep printing new lines (asks again every second).
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines of each replica.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// List a service's releases (* marks the active one).
    Releases {
        #[command(flatten)]
        common: CommonArgs,
        service: String,
    },
    /// Re-activate an earlier release of a service (default: the previous one).
    Rollback {
        #[command(flatten)]
        common: CommonArgs,
        service: String,
        /// The release to go back to.
        #[arg(long, value_name = "N")]
        to: Option<u64>,
    },
    /// Stop and remove the project's containers and networks.
    Down {
        #[command(flatten)]
        common: CommonArgs,
        /// Remove the project's named volumes too.
        #[arg(short = 'v', long)]
        volumes: bool,
    },
    /// Run a service with REPLICAS containers (until the next `up`).
    Scale {
        #[command(flatten)]
        common: CommonArgs,
        service: String,
        /// 0 to 100.
        replicas: u32,
    },
    /// Serve the API over HTTPS on this host (Ctrl-C or SIGTERM stops it gracefully).
    Server {
        /// Address to listen on (port 0 picks a free one; the address is printed).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
        listen: String,
        #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
        state_dir: Option<PathBuf>,
        /// Serve this certificate chain (PEM) instead of the local CA's; needs --key.
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// The private key (PEM, mode 0600) of --cert.
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// Log lines as text or as JSON (level: BULKHEAD_LOG, e.g. `info,bulkhead_app=debug`).
        #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Make the first admin of a state directory; prints its token (shown once).
    Init {
        #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
        state_dir: Option<PathBuf>,
        /// The admin's name.
        #[arg(long, value_name = "NAME", default_value = "admin")]
        admin: String,
    },
    /// Users and service accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens (a new one is printed once).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Role bindings: a role for a user in one project or all of them.
    Role {
        #[command(subcommand)]
        command: RoleCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// A project's secrets: encrypted at rest, delivered as files, never shown again.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// The key-encryption key that wraps every secret's data key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Talk to a server from now on: checks the token (read from stdin) and saves it (0600).
    Login {
        /// The server's URL (https://HOST:PORT).
        url: String,
        /// Read the token from stdin (the only way: never on the command line).
        #[arg(long)]
        token_stdin: bool,
        /// The server's CA certificate (the ca-file it printed), when not a system-trusted one.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Forget the saved login.
    Logout,
}

const STATE_DIR_HELP: &str = "State directory (default: $BULKHEAD_STATE_DIR, else $XDG_STATE_HOME/bulkhead, else ~/.local/state/bulkhead)";

/// Where account and audit commands run, embedded.
#[derive(Args)]
pub struct TargetArgs {
    #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (or service account) with a first role; prints its first token.
    Add {
        name: String,
        /// admin, operator, developer, viewer or auditor.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The role's project (default: all projects).
        #[arg(long, value_name = "P")]
        project: Option<String>,
        /// A service account (CI, scripts): it cannot make its own tokens.
        #[arg(long)]
        service_account: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List users and service accounts with their roles.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Remove an account with its tokens and bindings.
    Rm {
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token for a user; prints it (shown once).
    Create {
        #[arg(long, value_name = "U")]
        user: String,
        /// A name to tell it by.
        #[arg(long, value_name = "N")]
        name: Option<String>,
        /// It expires this many seconds from now (default: never).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List a user's tokens (never the secrets).
    List {
        #[arg(long, value_name = "U")]
        user: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Revoke a token (its record is kept for the audit trail).
    Revoke {
        /// The token's id (the 16 hex digits after `bhk_`).
        id: String,
        #[arg(long, value_name = "U")]
        user: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Give USER the role ROLE, in one project or all of them.
    Bind {
        user: String,
        role: String,
        #[arg(long, value_name = "P")]
        project: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Take a binding away.
    Unbind {
        user: String,
        role: String,
        #[arg(long, value_name = "P")]
        project: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List a user's bindings.
    List {
        user: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List entries (reads, does not verify; the read is itself audited).
    Log {
        /// Entries at or after this RFC 3339 time.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Entries of this user (or token id).
        #[arg(long, value_name = "U")]
        actor: Option<String>,
        /// Entries of this action, or of its family (`project` matches `project.up`).
        #[arg(long, value_name = "A")]
        action: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Check the whole log offline: hash chain, sequence, signed checkpoints and head.
    Verify {
        #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
        state_dir: Option<PathBuf>,
        /// Verify against this public key (kept elsewhere) instead of the state directory's.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the whole log as JSON lines (head first), e.g. for a SIEM.
    Export {
        /// Write to FILE instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
        state_dir: Option<PathBuf>,
    },
    /// Print (or write) the public key that verifies the log's checkpoints.
    Pubkey {
        /// Write to FILE instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Set a new version from a file or stdin (never the command line); the services that
    /// deliver it roll to the new version.
    Set {
        /// The secret, as PROJECT/NAME.
        secret: String,
        /// Read the value from FILE (byte for byte; default: stdin).
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Anything else given here: refused without being echoed (a value on the command
        /// line would be in the shell history and `ps`).
        #[arg(hide = true)]
        stray: Vec<std::ffi::OsString>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List a project's secrets: names, versions, who set the latest and when.
    #[command(visible_alias = "list")]
    Ls {
        project: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List a secret's versions (numbers, sizes, times; never a value).
    Versions {
        /// The secret, as PROJECT/NAME.
        secret: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Remove a secret with every version (version numbers are never reused).
    Rm {
        /// The secret, as PROJECT/NAME.
        secret: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new key-encryption key, re-wrap every version under it, retire the old ones
    /// (admin; exit 1 when a version could not be re-wrapped).
    Rotate {
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Flags shared by the deploying commands.
#[derive(Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[arg(long, value_name = "DIR", help = STATE_DIR_HELP)]
    pub state_dir: Option<PathBuf>,
    /// No progress output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The project-selection flags, as in Docker Compose.
#[derive(Args)]
pub struct ProjectArgs {
    /// Compose file (repeatable: later files merge over earlier ones).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name (default: top-level `name:`, else the directory name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Project directory (default: the first Compose file's directory).
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Activate a profile (repeatable).
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Variables file (default: .env in the project directory).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// DANGEROUS, local deploys only: let the spec name paths under DIR, outside the project
    /// (bind mounts, env files, secret files). Host mounts still need a waiver. Repeatable.
    #[arg(long = "allow-host-path", value_name = "DIR")]
    pub allow_host_paths: Vec<PathBuf>,
}

/// Where services run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// One Docker Engine: containers, the host firewall, secrets on a tmpfs.
    #[default]
    Engine,
    /// A Docker Swarm manager (docs/swarm.md).
    Swarm,
}

/// How the server's log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The process environment (variables that are not UTF-8 are left out).
pub fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

impl ProjectArgs {
    pub fn options(&self) -> anyhow::Result<ProjectOptions> {
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
        Ok(ProjectOptions {
            files: self.files.clone(),
            project_name: self.project_name.clone(),
            project_dir: self.project_dir.clone(),
            profiles: self.profiles.clone(),
            env_file: self.env_file.clone(),
            env: environment(),
            cwd,
            origin: Origin::Local,
            allow_host_paths: self.allow_host_paths.clone(),
        })
    }
}

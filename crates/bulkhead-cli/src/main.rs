//! The `bulkhead` command: argument parsing, dispatch, and the exit-code contract
//! (0 success, 1 refused or failed, 2 bad usage or unreadable input).

mod check;
mod deploy;
mod output;
mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use bulkhead_app::project::ProjectOptions;

#[derive(Parser)]
#[command(
    name = "bulkhead",
    version,
    about = "Secure-by-default microservices on Docker, from a Compose file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and validate the spec and print the verdict per service; changes nothing.
    Check {
        #[command(flatten)]
        project: ProjectArgs,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build, deploy hardened and wait until healthy; a second run changes nothing.
    Up {
        #[command(flatten)]
        common: CommonArgs,
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
        /// Keep printing new lines.
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
        #[arg(long)]
        volumes: bool,
    },
}

/// Flags shared by the deploying commands.
#[derive(Args)]
struct CommonArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// State directory (default: $BULKHEAD_STATE_DIR, else $XDG_STATE_HOME/bulkhead, else ~/.local/state/bulkhead).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// No progress output.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// The project-selection flags, as in Docker Compose.
#[derive(Args)]
struct ProjectArgs {
    /// Compose file (repeatable: later files merge over earlier ones).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name (default: top-level `name:`, else the directory name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project_name: Option<String>,
    /// Project directory (default: the first Compose file's directory).
    #[arg(long = "project-directory", value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Activate a profile (repeatable).
    #[arg(long = "profile", value_name = "PROFILE")]
    profiles: Vec<String>,
    /// Variables file (default: .env in the project directory).
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Option<PathBuf>,
}

impl ProjectArgs {
    fn options(&self) -> anyhow::Result<ProjectOptions> {
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Ok(ProjectOptions {
            files: self.files.clone(),
            project_name: self.project_name.clone(),
            project_dir: self.project_dir.clone(),
            profiles: self.profiles.clone(),
            env_file: self.env_file.clone(),
            env,
            cwd,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check { project, json } => project.options().map(|o| check::run(&o, *json)),
        other => run_deploy(other),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_deploy(command: &Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        fn common(c: &CommonArgs) -> anyhow::Result<deploy::Common<'_>> {
            Ok(deploy::Common {
                project: c.project.options()?,
                state_dir: c.state_dir.as_deref(),
                quiet: c.quiet,
                json: c.json,
            })
        }
        match command {
            Command::Check { .. } => Ok(ExitCode::SUCCESS),
            Command::Up { common: c } => deploy::up(&common(c)?).await,
            Command::Plan { common: c } => deploy::plan(&common(c)?).await,
            Command::Ps { common: c } => deploy::ps(&common(c)?).await,
            Command::Logs {
                common: c,
                service,
                follow,
                tail,
            } => deploy::logs(&common(c)?, service, *follow, *tail).await,
            Command::Releases { common: c, service } => {
                deploy::releases(&common(c)?, service).await
            }
            Command::Rollback {
                common: c,
                service,
                to,
            } => deploy::rollback(&common(c)?, service, *to).await,
            Command::Down { common: c, volumes } => deploy::down(&common(c)?, *volumes).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

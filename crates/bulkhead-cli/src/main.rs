//! The `bulkhead` command: argument parsing, dispatch, and the exit-code contract
//! (0 success, 1 refused or failed, 2 bad usage or unreadable input).

mod check;
mod output;

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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

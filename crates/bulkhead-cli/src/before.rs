//! The options given before the command (`bulkhead -f FILE -p NAME up`, as `docker compose`
//! takes them): merged into the command's own, or refused where the command takes none.

use std::path::PathBuf;

use crate::args::{
    AuditCommand, BeforeArgs, Command, KeysCommand, ProjectArgs, RoleCommand, SecretCommand,
    TokenCommand, UserCommand,
};
use crate::failure::Failure;

/// `command` with the options given before it merged in: repeatable options (`-f`,
/// `--profile`, `--allow-host-path`) before its own, a single-valued one given twice refused
/// unless both say the same.
pub fn merge(before: BeforeArgs, mut command: Command) -> Result<Command, Failure> {
    let name = command_name(&command);
    let BeforeArgs { project, state_dir } = before;
    match project_args(&mut command) {
        Some(own) => merge_project(project, own)?,
        None => {
            if let Some(flag) = first_project_flag(&project) {
                return Err(Failure::usage(format!(
                    "{flag} is a project option, which `{name}` does not take"
                ))
                .hint(format!(
                    "drop it; `bulkhead {name} --help` lists what it takes"
                )));
            }
        }
    }
    if let Some(dir) = state_dir {
        let Some(own) = state_dir_of(&mut command) else {
            return Err(
                Failure::usage(format!("`{name}` does not use a state directory"))
                    .hint("drop --state-dir"),
            );
        };
        one("--state-dir", own, dir)?;
    }
    Ok(command)
}

fn merge_project(before: ProjectArgs, own: &mut ProjectArgs) -> Result<(), Failure> {
    let ProjectArgs {
        files,
        project_name,
        project_dir,
        profiles,
        env_file,
        allow_host_paths,
    } = before;
    prepend(&mut own.files, files);
    prepend(&mut own.profiles, profiles);
    prepend(&mut own.allow_host_paths, allow_host_paths);
    if let Some(name) = project_name {
        one("-p/--project-name", &mut own.project_name, name)?;
    }
    if let Some(dir) = project_dir {
        one("--project-directory", &mut own.project_dir, dir)?;
    }
    if let Some(file) = env_file {
        one("--env-file", &mut own.env_file, file)?;
    }
    Ok(())
}

fn prepend<T>(own: &mut Vec<T>, mut before: Vec<T>) {
    before.append(own);
    *own = before;
}

/// Set a single-valued option from before the command; given on both sides, both must agree.
fn one<T: PartialEq + std::fmt::Debug>(
    flag: &str,
    own: &mut Option<T>,
    before: T,
) -> Result<(), Failure> {
    match own {
        Some(after) if *after != before => Err(Failure::usage(format!(
            "{flag} is given twice, as {before:?} before the command and as {after:?} after it"
        ))
        .hint("give it once")),
        _ => {
            *own = Some(before);
            Ok(())
        }
    }
}

/// The first project option that was given, as it is spelled (for messages).
fn first_project_flag(p: &ProjectArgs) -> Option<&'static str> {
    [
        (!p.files.is_empty(), "-f/--file"),
        (p.project_name.is_some(), "-p/--project-name"),
        (p.project_dir.is_some(), "--project-directory"),
        (!p.profiles.is_empty(), "--profile"),
        (p.env_file.is_some(), "--env-file"),
        (!p.allow_host_paths.is_empty(), "--allow-host-path"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

fn project_args(command: &mut Command) -> Option<&mut ProjectArgs> {
    match command {
        Command::Check { project, .. } | Command::Learn { project, .. } => Some(project),
        Command::Up { common, .. }
        | Command::Plan { common }
        | Command::Ps { common }
        | Command::Logs { common, .. }
        | Command::Releases { common, .. }
        | Command::Rollback { common, .. }
        | Command::Down { common, .. }
        | Command::Scale { common, .. } => Some(&mut common.project),
        Command::Server { .. }
        | Command::Init { .. }
        | Command::User { .. }
        | Command::Token { .. }
        | Command::Role { .. }
        | Command::Audit { .. }
        | Command::Secret { .. }
        | Command::Keys { .. }
        | Command::Login { .. }
        | Command::Logout => None,
    }
}

fn state_dir_of(command: &mut Command) -> Option<&mut Option<PathBuf>> {
    match command {
        Command::Up { common, .. }
        | Command::Plan { common }
        | Command::Ps { common }
        | Command::Logs { common, .. }
        | Command::Releases { common, .. }
        | Command::Rollback { common, .. }
        | Command::Down { common, .. }
        | Command::Scale { common, .. } => Some(&mut common.state_dir),
        Command::Server { state_dir, .. } | Command::Init { state_dir, .. } => Some(state_dir),
        Command::User { command } => Some(match command {
            UserCommand::Add { target, .. }
            | UserCommand::List { target }
            | UserCommand::Rm { target, .. } => &mut target.state_dir,
        }),
        Command::Token { command } => Some(match command {
            TokenCommand::Create { target, .. }
            | TokenCommand::List { target, .. }
            | TokenCommand::Revoke { target, .. } => &mut target.state_dir,
        }),
        Command::Role { command } => Some(match command {
            RoleCommand::Bind { target, .. }
            | RoleCommand::Unbind { target, .. }
            | RoleCommand::List { target, .. } => &mut target.state_dir,
        }),
        Command::Audit { command } => Some(match command {
            AuditCommand::Log { target, .. } => &mut target.state_dir,
            AuditCommand::Verify { state_dir, .. }
            | AuditCommand::Export { state_dir, .. }
            | AuditCommand::Pubkey { state_dir, .. } => state_dir,
        }),
        Command::Secret { command } => Some(match command {
            SecretCommand::Set { target, .. }
            | SecretCommand::Ls { target, .. }
            | SecretCommand::Versions { target, .. }
            | SecretCommand::Rm { target, .. } => &mut target.state_dir,
        }),
        Command::Keys {
            command: KeysCommand::Rotate { target },
        } => Some(&mut target.state_dir),
        Command::Check { .. } | Command::Learn { .. } | Command::Login { .. } | Command::Logout => {
            None
        }
    }
}

/// The command's name, for messages.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Check { .. } => "check",
        Command::Learn { .. } => "learn",
        Command::Up { .. } => "up",
        Command::Plan { .. } => "plan",
        Command::Ps { .. } => "ps",
        Command::Logs { .. } => "logs",
        Command::Releases { .. } => "releases",
        Command::Rollback { .. } => "rollback",
        Command::Down { .. } => "down",
        Command::Scale { .. } => "scale",
        Command::Server { .. } => "server",
        Command::Init { .. } => "init",
        Command::User { .. } => "user",
        Command::Token { .. } => "token",
        Command::Role { .. } => "role",
        Command::Audit { .. } => "audit",
        Command::Secret { .. } => "secret",
        Command::Keys { .. } => "keys",
        Command::Login { .. } => "login",
        Command::Logout => "logout",
    }
}

/// Whether the command was asked for JSON: its errors are then one JSON document on stdout.
pub fn wants_json(command: &Command) -> bool {
    match command {
        Command::Check { json, .. } | Command::Learn { json, .. } => *json,
        Command::Up { common, .. }
        | Command::Plan { common }
        | Command::Ps { common }
        | Command::Logs { common, .. }
        | Command::Releases { common, .. }
        | Command::Rollback { common, .. }
        | Command::Down { common, .. }
        | Command::Scale { common, .. } => common.json,
        Command::User { command } => match command {
            UserCommand::Add { target, .. }
            | UserCommand::List { target }
            | UserCommand::Rm { target, .. } => target.json,
        },
        Command::Token { command } => match command {
            TokenCommand::Create { target, .. }
            | TokenCommand::List { target, .. }
            | TokenCommand::Revoke { target, .. } => target.json,
        },
        Command::Role { command } => match command {
            RoleCommand::Bind { target, .. }
            | RoleCommand::Unbind { target, .. }
            | RoleCommand::List { target, .. } => target.json,
        },
        Command::Audit { command } => match command {
            AuditCommand::Log { target, .. } => target.json,
            AuditCommand::Verify { json, .. } => *json,
            AuditCommand::Export { .. } | AuditCommand::Pubkey { .. } => false,
        },
        Command::Secret { command } => match command {
            SecretCommand::Set { target, .. }
            | SecretCommand::Ls { target, .. }
            | SecretCommand::Versions { target, .. }
            | SecretCommand::Rm { target, .. } => target.json,
        },
        Command::Keys {
            command: KeysCommand::Rotate { target },
        } => target.json,
        Command::Server { .. } | Command::Init { .. } | Command::Login { .. } | Command::Logout => {
            false
        }
    }
}

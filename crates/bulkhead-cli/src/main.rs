//! The `bulkhead` command: dispatch from the parsed command line, and the exit-code contract
//! (0 success, 1 refused or failed, 2 bad usage or unreadable input, 3 the environment cannot
//! be used: no Docker Engine or server answers).

mod accounts;
mod args;
mod audit;
mod backend;
mod before;
mod bundle;
mod check;
mod context;
mod deploy;
mod failure;
mod imagefit;
#[cfg(test)]
mod names_tests;
mod output;
mod progress;
mod render;
mod replies;
mod secrets;
mod server;

use std::process::ExitCode;

use clap::Parser;

use accounts::Target;
use args::{
    AuditCommand, Cli, Command, CommonArgs, KeysCommand, RoleCommand, SecretCommand, TokenCommand,
    UserCommand,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = before::wants_json(&cli.command);
    let command = match before::merge(cli.before, cli.command) {
        Ok(c) => c,
        Err(f) => return failure::report(&anyhow::Error::from(f), json),
    };
    let result = match command {
        Command::Check {
            project,
            json,
            fix,
            backend,
        } => project
            .options()
            .map(|o| check::run(&o, json, fix, backend == args::Backend::Swarm)),
        Command::Learn {
            project,
            service,
            seconds,
            fix,
            json,
        } => project
            .options()
            .map(|o| check::learn(&o, &service, seconds, fix, json)),
        Command::Server {
            listen,
            state_dir,
            cert,
            key,
            log_format,
        } => server::serve(server::ServerArgs {
            listen,
            state_dir,
            cert: cert.zip(key),
            log_format,
        }),
        Command::Logout => context::logout(),
        other => on_runtime(other),
    };
    match result {
        Ok(code) => code,
        Err(e) => failure::report(&e, json),
    }
}

/// Run an async command on a small runtime.
fn on_runtime(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(dispatch(command))
}

fn common(c: &CommonArgs) -> anyhow::Result<deploy::Common<'_>> {
    Ok(deploy::Common {
        project: c.project.options()?,
        state_dir: c.state_dir.as_deref(),
        quiet: c.quiet,
        json: c.json,
    })
}

fn target(t: &args::TargetArgs) -> Target<'_> {
    Target {
        state_dir: t.state_dir.as_deref(),
        json: t.json,
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up { common: c, .. } => deploy::up(&common(&c)?).await,
        Command::Plan { common: c } => deploy::plan(&common(&c)?).await,
        Command::Ps { common: c } => deploy::ps(&common(&c)?).await,
        Command::Logs {
            common: c,
            service,
            follow,
            tail,
        } => deploy::logs(&common(&c)?, &service, follow, tail).await,
        Command::Releases { common: c, service } => deploy::releases(&common(&c)?, &service).await,
        Command::Rollback {
            common: c,
            service,
            to,
        } => deploy::rollback(&common(&c)?, &service, to).await,
        Command::Down { common: c, volumes } => deploy::down(&common(&c)?, volumes).await,
        Command::Scale {
            common: c,
            service,
            replicas,
        } => deploy::scale(&common(&c)?, &service, replicas).await,
        Command::Init { state_dir, admin } => accounts::init(state_dir.as_deref(), &admin).await,
        Command::User { command } => user(command).await,
        Command::Token { command } => token(command).await,
        Command::Role { command } => role(command).await,
        Command::Audit { command } => match command {
            AuditCommand::Log {
                since,
                actor,
                action,
                target: t,
            } => {
                let filter = audit::LogFilter {
                    since: since.as_deref(),
                    actor: actor.as_deref(),
                    action: action.as_deref(),
                };
                audit::log(&target(&t), &filter).await
            }
            AuditCommand::Export { output, state_dir } => {
                let t = Target {
                    state_dir: state_dir.as_deref(),
                    json: false,
                };
                audit::export(&t, output.as_deref()).await
            }
            AuditCommand::Verify {
                state_dir,
                pubkey,
                json,
            } => audit::verify(state_dir.as_deref(), pubkey.as_deref(), json),
            AuditCommand::Pubkey { output, state_dir } => {
                audit::pubkey(state_dir.as_deref(), output.as_deref())
            }
        },
        Command::Secret { command } => secret(command).await,
        Command::Keys {
            command: KeysCommand::Rotate { target: t },
        } => secrets::rotate(&target(&t)).await,
        Command::Login {
            url,
            token_stdin,
            ca,
        } => context::login(&url, token_stdin, ca.as_deref()).await,
        Command::Check { .. }
        | Command::Learn { .. }
        | Command::Server { .. }
        | Command::Logout => Err(anyhow::anyhow!("this command does not run here")),
    }
}

async fn user(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            name,
            role,
            project,
            service_account,
            target: t,
        } => {
            accounts::user_add(
                &target(&t),
                &name,
                &role,
                project.as_deref(),
                service_account,
            )
            .await
        }
        UserCommand::List { target: t } => accounts::user_list(&target(&t)).await,
        UserCommand::Rm { name, target: t } => accounts::user_remove(&target(&t), &name).await,
    }
}

async fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            user,
            name,
            expires_in,
            target: t,
        } => accounts::token_create(&target(&t), &user, name.as_deref(), expires_in).await,
        TokenCommand::List { user, target: t } => accounts::token_list(&target(&t), &user).await,
        TokenCommand::Revoke {
            id,
            user,
            target: t,
        } => accounts::token_revoke(&target(&t), &id, &user).await,
    }
}

async fn secret(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Set {
            secret,
            from_file,
            stray,
            target: t,
        } => secrets::set(&target(&t), &secret, from_file.as_deref(), stray.len()).await,
        SecretCommand::Ls { project, target: t } => {
            secrets::list_secrets(&target(&t), &project).await
        }
        SecretCommand::Versions { secret, target: t } => {
            secrets::versions(&target(&t), &secret).await
        }
        SecretCommand::Rm { secret, target: t } => secrets::remove(&target(&t), &secret).await,
    }
}

async fn role(command: RoleCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoleCommand::Bind {
            user,
            role,
            project,
            target: t,
        } => accounts::role(&target(&t), true, &user, &role, project.as_deref()).await,
        RoleCommand::Unbind {
            user,
            role,
            project,
            target: t,
        } => accounts::role(&target(&t), false, &user, &role, project.as_deref()).await,
        RoleCommand::List { user, target: t } => accounts::role_list(&target(&t), &user).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

//! `casegrid`: parses the command line and hands over; the work is in the library.

#![forbid(unsafe_code)]

use casegrid::cli::{Cli, Command, PluginCommand, plugin_check, plugin_inspect};
use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match main_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("casegrid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_inner(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings()?;
    match &cli.command {
        Command::Serve { .. } => {
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            casegrid::run(settings, listener, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Check { file }) => plugin_check(&settings, file),
        Command::Plugin(PluginCommand::Inspect { file }) => plugin_inspect(&settings, file),
        Command::Plugin(PluginCommand::Keygen { domain, out }) => casegrid::cli::plugin_keygen(domain, out),
        Command::Plugin(PluginCommand::Sign { file, key, out }) => {
            casegrid::cli::plugin_sign(&settings, file, key, out.as_deref())
        }
        Command::Plugin(PluginCommand::Publish { file, key, server, token }) => {
            casegrid::cli::plugin_publish(&settings, file, key, server, token).await
        }
        Command::Plugin(PluginCommand::Trust { file, name }) => {
            casegrid::cli::plugin_trust(&settings, file, name).await
        }
        Command::User(cmd) => casegrid::cli::user(&settings, cmd).await,
        Command::Org(cmd) => casegrid::cli::org(&settings, cmd).await,
        Command::Grid(cmd) => casegrid::cli::grid(&settings, cmd).await,
        Command::Demo(cmd) => casegrid::cli::demo(&settings, cmd).await,
        Command::Audit(cmd) => casegrid::cli::audit(&settings, cmd).await,
        Command::Case(cmd) => casegrid::cli::case(&settings, cmd).await,
    }
}

use std::process::ExitCode;

use zen_watcher::config::{Config, LoadOutcome};
use zen_watcher::{app, shutdown, telemetry};

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(LoadOutcome::Run(config)) => config,
        Ok(LoadOutcome::Print(config)) => return print_config(&config),
        Ok(LoadOutcome::Display(output)) => {
            let _ = output.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("zen-watcher: {err}");
            return ExitCode::from(2);
        }
    };
    match run(*config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("zen-watcher: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(config: &Config) -> ExitCode {
    match serde_json::to_string_pretty(config) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("zen-watcher: printing the configuration: {err}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    let signals = shutdown::Signals::install()?;
    // Flushes the last spans when `run` returns.
    let _telemetry = telemetry::init(&config.log_level, config.log_format)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        identity = %config.identity,
        namespace = %config.namespace,
        leader_election = config.leader_election.is_some(),
        "zen-watcher starting"
    );
    tracing::debug!(config = %serde_json::to_string(&config)?, "configuration");
    app::run(config, signals).await
}

use std::process::ExitCode;

use zen_watcher::config::{Config, LoadOutcome};
use zen_watcher::telemetry::TracingSettings;
use zen_watcher::{app, shutdown, telemetry};

fn main() -> ExitCode {
    let (config, print) = match Config::load() {
        Ok(LoadOutcome::Run(config)) => (config, false),
        Ok(LoadOutcome::Print(config)) => (config, true),
        Ok(LoadOutcome::Display(output)) => {
            let _ = output.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => return refuse(&err),
    };
    // The OTEL_* variables are checked with the rest of the configuration, so a bad one is a
    // start-up error (and a --print-config error), not a failure of the first export.
    let tracing = match TracingSettings::from_env() {
        Ok(tracing) => tracing,
        Err(err) => return refuse(&err),
    };
    if print {
        return print_config(&config, &tracing);
    }
    match run(*config, tracing) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("zen-watcher: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A configuration error: exit 2, as clap does for a bad flag.
fn refuse(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("zen-watcher: {err}");
    ExitCode::from(2)
}

/// The configuration as JSON, with the trace export settings under `tracing` (null: off).
fn print_config(config: &Config, tracing: &Option<TracingSettings>) -> ExitCode {
    let printed = serde_json::to_value(config).and_then(|mut value| {
        if let Some(object) = value.as_object_mut() {
            object.insert("tracing".into(), serde_json::to_value(tracing)?);
        }
        serde_json::to_string_pretty(&value)
    });
    match printed {
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
async fn run(config: Config, tracing: Option<TracingSettings>) -> anyhow::Result<()> {
    let signals = shutdown::Signals::install()?;
    // Flushes the last spans when `run` returns.
    let _telemetry = telemetry::init(&config.log_level, config.log_format, tracing)?;
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

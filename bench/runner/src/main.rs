//! `zen-bench`: the benchmarks of `make bench` that need a running apiserver and watcher
//! processes (write rate, failover, memory). `scripts/bench.sh` starts the control plane,
//! builds the release binary and sets `KUBECONFIG` and `ZEN_WATCHER_BIN`; each subcommand
//! appends JSON lines to `<out>/<bench>.jsonl` for `bench/report.py`.

mod alerts;
mod audit_batch;
mod chaos;
mod failover;
mod load;
mod memory;
mod output;
mod process;
mod reports;
mod watchers;
mod write_rate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "zen-watcher benchmarks against a real kube-apiserver (run by make bench)")]
struct Cli {
    /// Folder of the JSON lines results.
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
    /// Folder of the watcher processes' logs.
    #[arg(long, default_value = "bench/.run/logs")]
    logs: PathBuf,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Distinct Falco alerts written as Observations per second through one watcher, against a
    /// bare kube-rs client creating the same Observations at the same concurrency.
    WriteRate(write_rate::Args),
    /// Time from a signal to the leader (SIGTERM, SIGKILL) to the new leader's informers.
    Failover(failover::Args),
    /// RSS idle, after webhook events, and while watching VulnerabilityReports.
    Memory(memory::Args),
    /// Delivery guarantees under faults (make chaos): writes RELIABILITY.md.
    Chaos(chaos::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out = output::Results::new(&cli.out)?;
    match cli.bench {
        Bench::WriteRate(args) => write_rate::run(args, &out, &cli.logs).await,
        Bench::Failover(args) => failover::run(args, &out, &cli.logs).await,
        Bench::Memory(args) => memory::run(args, &out, &cli.logs).await,
        Bench::Chaos(args) => chaos::run(args, &out, &cli.logs).await,
    }
}

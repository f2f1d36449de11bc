//! Failover at the default Lease timings (15 s / 10 s / 2 s): replicas with leader election,
//! the leader stopped with SIGTERM (graceful) or SIGKILL, and the time from the signal to the
//! moment the new leader's informers run: its log line "watching reports" for every report
//! kind (JSON log timestamps, same clock). The stopped replica is started again after each run.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use zen_watcher_e2e::replicas::lease_holder;
use zen_watcher_e2e::{
    Signal, TestNamespace, admin_client, apply_crds, apply_report_crds, wait_until,
};

use crate::output::{Results, median};
use crate::watchers::{self, Running, informer_starts};

#[derive(clap::Args)]
pub struct Args {
    /// Runs per kind (graceful, SIGKILL).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 3)]
    replicas: usize,
}

struct Replica {
    identity: String,
    generation: usize,
    running: Running,
}

pub async fn run(args: Args, out: &Results, logs: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(args.replicas >= 2, "failover needs at least 2 replicas");
    let client = admin_client().await?;
    apply_crds(&client).await?;
    // One informer per report kind: the new leader runs them all when it has logged this many.
    let kinds = apply_report_crds(&client).await?.len();
    let home = TestNamespace::create(&client, "bench-failover").await?;
    let logs = logs.join("failover");
    let mut replicas = Vec::new();
    for i in 0..args.replicas {
        let identity = format!("zen-{i}");
        let running = start(&identity, 0, &home.name, &logs).await?;
        replicas.push(Replica {
            identity,
            generation: 0,
            running,
        });
    }
    let leader = current_leader(&client, &home.name, &replicas).await?;
    watchers::wait_informers(&replicas[leader].running.process, kinds).await?;

    for (kind, signal) in [("graceful", Signal::Term), ("sigkill", Signal::Kill)] {
        let mut times = Vec::new();
        for run in 1..=args.runs {
            let old = current_leader(&client, &home.name, &replicas).await?;
            let before: Vec<usize> = replicas
                .iter()
                .map(|r| informer_starts(&r.running.process).len())
                .collect();
            let signalled_at = Timestamp::now();
            replicas[old].running.process.signal(signal)?;
            let (new, running_at) = wait_for_new_informers(&replicas, old, &before, kinds).await?;
            let seconds = running_at.duration_since(signalled_at).as_secs_f64();
            let holder = lease_holder(&client, &home.name).await;
            anyhow::ensure!(
                holder.as_deref() == Some(replicas[new].identity.as_str()),
                "the Lease names {holder:?}, the informers run on {}",
                replicas[new].identity
            );
            out.append(
                "failover",
                &json!({
                    "bench": "failover", "kind": kind, "run": run, "seconds": seconds,
                    "old_leader": replicas[old].identity, "new_leader": replicas[new].identity,
                }),
            )?;
            times.push(seconds);
            // Back to full strength: the stopped replica starts again under its identity.
            let status = replicas[old]
                .running
                .process
                .wait_exit(Duration::from_secs(60))?;
            anyhow::ensure!(
                matches!(signal, Signal::Kill) || status.success(),
                "{} exited with {status} after SIGTERM",
                replicas[old].identity
            );
            let generation = replicas[old].generation + 1;
            replicas[old].running =
                start(&replicas[old].identity, generation, &home.name, &logs).await?;
            replicas[old].generation = generation;
        }
        eprintln!(
            "zen-bench: {kind} failover median {:.2} s over {} runs",
            median(&times).unwrap_or(f64::NAN),
            times.len()
        );
    }
    for replica in &mut replicas {
        replica
            .running
            .process
            .stop(Signal::Term, Duration::from_secs(60))?;
    }
    Ok(())
}

async fn start(
    identity: &str,
    generation: usize,
    home: &str,
    logs: &Path,
) -> anyhow::Result<Running> {
    watchers::start(
        &format!("{identity}.{generation}"),
        home,
        true,
        &[("POD_NAME", identity)],
        logs,
    )
    .await
}

/// The index of the replica holding the Lease, waiting up to 60 s.
async fn current_leader(
    client: &kube::Client,
    home: &str,
    replicas: &[Replica],
) -> anyhow::Result<usize> {
    wait_until("a leader", Duration::from_secs(60), || async {
        Ok(lease_holder(client, home)
            .await
            .and_then(|holder| replicas.iter().position(|r| r.identity == holder)))
    })
    .await
}

/// The replica (not `old`) that logged `kinds` new "watching reports" lines, and when the
/// last of them was logged.
async fn wait_for_new_informers(
    replicas: &[Replica],
    old: usize,
    before: &[usize],
    kinds: usize,
) -> anyhow::Result<(usize, Timestamp)> {
    wait_until(
        "a new leader's informers",
        Duration::from_secs(90),
        || async {
            Ok(replicas.iter().enumerate().find_map(|(i, r)| {
                if i == old {
                    return None;
                }
                informer_starts(&r.running.process)
                    .get(before[i] + kinds - 1)
                    .map(|ts| (i, *ts))
            }))
        },
    )
    .await
}

use super::*;
use crate::admission::Verdict;
use crate::admission::filter::{DropReason, RuleScope};
use crate::writer::Stored;

#[test]
fn every_stage_is_exposed_with_its_labels() {
    let (m, exposition) = AppMetrics::register();
    m.pipeline.received("falco");
    m.pipeline.received("falco");
    m.pipeline.verdict(
        "falco",
        &Verdict::Filtered {
            reason: DropReason::MinSeverity,
            by: RuleScope::Global,
        },
    );
    m.pipeline.verdict("falco", &Verdict::Duplicate);
    m.pipeline.verdict("falco", &Verdict::Write);
    m.pipeline.write(
        "falco",
        &Ok(Stored {
            written: crate::writer::Written::Recurred { occurrences: 2 },
            observation: crate::admission::ObservationRef {
                namespace: "shop".into(),
                name: "falco-0123456789abcdef".into(),
            },
        }),
    );
    m.pipeline.written("kyverno", "resolved", 3);
    m.pipeline.filtered("audit", "audit_no_rule", "source");
    m.queues.queue_depth("webhook", 7);
    let text = exposition.encode();
    for line in [
        "# TYPE zen_watcher_events_received counter",
        "zen_watcher_events_received_total{source=\"falco\"} 2",
        "zen_watcher_events_filtered_total{source=\"falco\",reason=\"min_severity\",scope=\"global\"} 1",
        "zen_watcher_events_filtered_total{source=\"audit\",reason=\"audit_no_rule\",scope=\"source\"} 1",
        "zen_watcher_events_deduplicated_total{source=\"falco\"} 1",
        "zen_watcher_observations_written_total{source=\"falco\",outcome=\"recurred\"} 1",
        "zen_watcher_observations_written_total{source=\"kyverno\",outcome=\"resolved\"} 3",
        "zen_watcher_write_queue_depth{queue=\"webhook\"} 7",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn the_readme_documents_every_metric() {
    let readme = include_str!("../../README.md");
    let (m, exposition) = AppMetrics::register();
    m.pipeline.received("x");
    for line in exposition
        .encode()
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
    {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        let exposed = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        };
        assert!(
            readme.contains(&format!("`{exposed}`")),
            "README lacks {exposed}"
        );
    }
}

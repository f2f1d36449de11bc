//! The chart README's values table (charts/zen-watcher/README.md, between
//! `<!-- values-table:start -->` and `<!-- values-table:end -->`) lists every leaf key of
//! charts/zen-watcher/values.yaml with its default, and nothing else. On a mismatch the test
//! prints the expected table (keeping the existing descriptions) to paste into the README.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const START: &str = "<!-- values-table:start -->";
const END: &str = "<!-- values-table:end -->";

fn chart_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/zen-watcher")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Leaf keys (dotted paths) of `value` with their defaults as compact JSON. Empty maps and
/// lists, lists and scalars are leaves.
fn leaves(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, child, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), serde_json::to_string(other).unwrap());
        }
    }
}

/// A table cell: `code` backticks stripped and `\|` unescaped.
fn cell(raw: &str) -> String {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('`')
        .and_then(|r| r.strip_suffix('`'))
        .unwrap_or(raw);
    raw.replace("\\|", "|")
}

/// Splits a Markdown table row on unescaped `|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                current.push_str("\\|");
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    cells.push(current);
    cells
}

#[test]
fn readme_values_table_lists_every_leaf_key_with_its_default() {
    let values: Value =
        serde_saphyr::from_str(&chart_file("values.yaml")).expect("values.yaml parses");
    let mut expected = BTreeMap::new();
    leaves("", &values, &mut expected);

    let readme = chart_file("README.md");
    let start = readme.find(START).expect("values-table:start marker");
    let end = readme.find(END).expect("values-table:end marker");
    assert!(start < end, "markers out of order");
    let table = &readme[start + START.len()..end];

    // key -> (default, description) as the README has them.
    let mut documented: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in table.lines().filter(|l| l.trim_start().starts_with('|')) {
        let row = cells(line);
        if row.len() < 2 || row[0].trim() == "Key" || row[0].trim().starts_with('-') {
            continue;
        }
        let description = row.get(2).map(|d| d.trim().to_string()).unwrap_or_default();
        let previous = documented.insert(cell(&row[0]), (cell(&row[1]), description));
        assert!(previous.is_none(), "{} is listed twice", cell(&row[0]));
    }

    let mut problems = Vec::new();
    for (key, default) in &expected {
        match documented.get(key) {
            None => problems.push(format!("missing: {key}")),
            Some((d, _)) if d != default => {
                problems.push(format!("{key}: README says {d}, values.yaml has {default}"))
            }
            Some(_) => {}
        }
    }
    for key in documented.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!("not in values.yaml: {key}"));
    }

    if !problems.is_empty() {
        let mut wanted =
            String::from("| Key | Default | Description |\n|-----|---------|-------------|\n");
        for (key, default) in &expected {
            let description = documented.get(key).map(|(_, d)| d.as_str()).unwrap_or("");
            wanted.push_str(&format!(
                "| `{key}` | `{}` | {description} |\n",
                default.replace('|', "\\|")
            ));
        }
        panic!(
            "charts/zen-watcher/README.md values table is out of date:\n  {}\n\n\
             Expected table (between the markers):\n\n{wanted}",
            problems.join("\n  ")
        );
    }
}

/// The schema node of a dotted values path.
fn schema_node<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(schema, |node, key| &node["properties"][key])
}

/// The chart's value patterns are the binary's grammars (zen_watcher::units), character for
/// character; e2e/tests/chart_formats.rs checks the whole chart against the binary.
#[test]
fn schema_patterns_are_the_binarys_grammars() {
    use zen_watcher::units;
    let schema: Value = serde_json::from_str(&chart_file("values.schema.json")).unwrap();
    let durations = [
        "leaderElection.leaseDuration",
        "leaderElection.renewDeadline",
        "leaderElection.retryPeriod",
        "gc.interval",
        "gc.timeout",
        "dedup.occurrenceFlushInterval",
        "limits.requestTimeout",
        "limits.apiserverRequestTimeout",
        "limits.headerReadTimeout",
        "limits.bodyReadTimeout",
        "limits.idleTimeout",
        "limits.http2KeepAliveInterval",
        "shutdownDrainDelay",
    ];
    for path in durations {
        let node = schema_node(&schema, path);
        assert_eq!(node["pattern"], units::DURATION_PATTERN, "{path}");
        assert_eq!(node["maxLength"], units::DURATION_MAX_LENGTH, "{path}");
    }
    for path in [
        "limits.maxRequestBytes",
        "limits.auditMaxRequestBytes",
        "limits.detailsMaxBytes",
    ] {
        let node = schema_node(&schema, path);
        assert_eq!(node["pattern"], units::BYTES_PATTERN, "{path}");
        assert_eq!(node["maximum"], 9_999_999_999u64, "{path}: ten digits");
    }
    assert_eq!(
        schema_node(&schema, "logLevel")["pattern"],
        units::LOG_FILTER_PATTERN
    );
    let key = schema_node(&schema, "filter.configMapKey");
    assert_eq!(key["pattern"], units::CONFIG_MAP_KEY_PATTERN);
    assert_eq!(key["maxLength"], units::CONFIG_MAP_KEY_MAX_LENGTH);
}

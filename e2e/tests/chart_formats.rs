//! One truth for value formats: for every chart value the binary parses (durations, sizes,
//! log filters, enums, numbers), each case below is accepted by `helm template` (the schema and
//! the template's checks) exactly when the binary, started with the environment the chart
//! renders, accepts it in `--print-config`. A value the chart takes and the binary refuses
//! would crash-loop the pod after a successful `helm install`; one the chart refuses and the
//! binary takes is a chart that is stricter than it says. No cluster needed; the binary is
//! `ZEN_WATCHER_BIN`.

use std::process::Command;

use serde_json::Value;
use zen_watcher_e2e::chart::{find, template};
use zen_watcher_e2e::required_env;

const NS: &str = "zen-system";
/// Values every render gets: an existing token Secret (no `lookup`).
const ALWAYS: &[&str] = &["--set", "webhook.existingSecret=x"];
/// `--set-json`, not `--set`: helm applies every `--set` before every `--set-json`, so a case
/// (always `--set-json`) can replace these.
const TRACING_ON: &[&str] = &[
    "--set-json",
    "tracing.enabled=true",
    "--set-json",
    r#"tracing.endpoint="http://otel-collector.observability:4317""#,
];

/// A chart value, the variable the chart renders it into, the values it needs beside it and
/// the cases (JSON literals, as given to `--set-json`).
struct Field {
    path: &'static str,
    variable: &'static str,
    base: &'static [&'static str],
    cases: Vec<String>,
}

fn json_strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| Value::from(*t).to_string()).collect()
}

fn durations() -> Vec<String> {
    let longest = "999999999d".repeat(6) + "1s1s";
    assert_eq!(longest.len(), 64);
    let mut cases = json_strings(&[
        "5m",
        "30s",
        "10s",
        "1h30m",
        "7d",
        "2s",
        "1s",
        "999ms",
        "250ms",
        "100ms",
        "99ms",
        "0s",
        " 5m ",
        "1.5h",
        "500us",
        "5",
        "5 m",
        "1w",
        "-5s",
        "",
        "5M",
        "1000000000s",
        "999999999s",
    ]);
    cases.push(Value::from(longest.clone()).to_string());
    cases.push(Value::from(longest + "1s").to_string());
    cases.push("30".into());
    cases
}

fn sizes() -> Vec<String> {
    let mut cases = json_strings(&[
        "1048576",
        "1MiB",
        "16Mi",
        "512KiB",
        "2MB",
        "1kB",
        "1GB",
        "1Gi",
        " 1Mi",
        "2mb",
        "1.5MiB",
        "1TiB",
        "1 MiB",
        "0",
        "1KiB",
        "1KB",
        "9999999999",
        "99999999999",
        "",
    ]);
    cases.extend(
        [
            "1048576",
            "16777216",
            "1",
            "0",
            "1023",
            "1024",
            "99999999999",
            "-1",
            "1.5",
        ]
        .map(String::from),
    );
    cases
}

/// Integer values: numbers only (a string is refused by the schema's type, while the binary
/// reads every variable as text: a type, not a format).
fn integers(extra: &[&str]) -> Vec<String> {
    let mut cases: Vec<String> = ["0", "1", "100", "1000000", "-1", "1.5", "4294967296"]
        .map(String::from)
        .to_vec();
    cases.extend(extra.iter().map(|s| s.to_string()));
    cases
}

fn fields() -> Vec<Field> {
    let mut fields = Vec::new();
    for (path, variable) in [
        (
            "leaderElection.leaseDuration",
            "LEADER_ELECTION_LEASE_DURATION",
        ),
        (
            "leaderElection.renewDeadline",
            "LEADER_ELECTION_RENEW_DEADLINE",
        ),
        ("leaderElection.retryPeriod", "LEADER_ELECTION_RETRY_PERIOD"),
        ("gc.interval", "GC_INTERVAL"),
        ("gc.timeout", "GC_TIMEOUT"),
        ("dedup.occurrenceFlushInterval", "OCCURRENCE_FLUSH_INTERVAL"),
        ("limits.requestTimeout", "WEBHOOK_REQUEST_TIMEOUT"),
        (
            "limits.apiserverRequestTimeout",
            "APISERVER_REQUEST_TIMEOUT",
        ),
        ("limits.headerReadTimeout", "SERVER_HEADER_READ_TIMEOUT"),
        ("limits.bodyReadTimeout", "SERVER_BODY_READ_TIMEOUT"),
        ("limits.idleTimeout", "SERVER_IDLE_TIMEOUT"),
        (
            "limits.http2KeepAliveInterval",
            "SERVER_HTTP2_KEEPALIVE_INTERVAL",
        ),
        ("shutdownDrainDelay", "SHUTDOWN_DRAIN_DELAY"),
    ] {
        fields.push(Field {
            path,
            variable,
            base: &[],
            cases: durations(),
        });
    }
    for (path, variable) in [
        ("limits.maxRequestBytes", "SERVER_MAX_REQUEST_BYTES"),
        ("limits.auditMaxRequestBytes", "AUDIT_MAX_REQUEST_BYTES"),
        ("limits.detailsMaxBytes", "OBSERVATION_DETAILS_MAX_BYTES"),
    ] {
        fields.push(Field {
            path,
            variable,
            base: &[],
            cases: sizes(),
        });
    }
    for (path, variable) in [
        ("limits.rateLimit", "WEBHOOK_RATE_LIMIT"),
        ("limits.writerConcurrency", "WRITER_CONCURRENCY"),
        ("limits.writerQueueSize", "WRITER_QUEUE_SIZE"),
        (
            "limits.maxObservationsPerSource",
            "MAX_OBSERVATIONS_PER_SOURCE",
        ),
        ("limits.maxConnections", "SERVER_MAX_CONNECTIONS"),
        (
            "limits.http2MaxConcurrentStreams",
            "SERVER_HTTP2_MAX_CONCURRENT_STREAMS",
        ),
        ("dedup.windowSeconds", "DEDUP_WINDOW_SECONDS"),
        ("dedup.maxSize", "DEDUP_MAX_SIZE"),
        ("observation.ttlDays", "OBSERVATION_TTL_DAYS"),
        ("observation.ttlSeconds", "OBSERVATION_TTL_SECONDS"),
    ] {
        fields.push(Field {
            path,
            variable,
            base: &[],
            cases: integers(&["18446744073709551616"]),
        });
    }
    fields.push(Field {
        path: "logLevel",
        variable: "LOG_LEVEL",
        base: &[],
        cases: json_strings(&[
            "info",
            "debug",
            "off",
            " warn ",
            "info,kube=warn",
            "warn,zen_watcher::writer=debug,kube_client=trace",
            "verbose",
            "INFO",
            "warning",
            "info,",
            "",
            "kube=",
            "kube-client=info",
            "info, kube=warn",
        ]),
    });
    fields.push(Field {
        path: "logFormat",
        variable: "LOG_FORMAT",
        base: &[],
        cases: json_strings(&["json", "text", "JSON", "yaml", ""]),
    });
    fields.push(Field {
        path: "filter.configMapKey",
        variable: "FILTER_CONFIGMAP_KEY",
        base: &[],
        cases: json_strings(&["filter.json", "rules_v2-b.yaml", "", "a/b", "a b", "ü"]),
    });
    fields.push(Field {
        path: "tracing.protocol",
        variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
        base: TRACING_ON,
        cases: json_strings(&["grpc", "http/protobuf", "http", "GRPC", ""]),
    });
    fields.push(Field {
        path: "tracing.sampler",
        variable: "OTEL_TRACES_SAMPLER",
        base: TRACING_ON,
        cases: json_strings(&[
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
            "AlwaysOn",
            "jaeger_remote",
            "",
        ]),
    });
    let mut ratios = json_strings(&["0.5", "1", "abc", "1.5", "-0.1", ""]);
    ratios.extend(["0.1", "0", "1", "1.5", "-0.1", "null"].map(String::from));
    fields.push(Field {
        path: "tracing.samplerArg",
        variable: "OTEL_TRACES_SAMPLER_ARG",
        base: &[
            "--set-json",
            "tracing.enabled=true",
            "--set-json",
            r#"tracing.endpoint="http://otel-collector.observability:4317""#,
            "--set-json",
            r#"tracing.sampler="parentbased_traceidratio""#,
        ],
        cases: ratios,
    });
    fields.push(Field {
        path: "tracing.endpoint",
        variable: "OTEL_EXPORTER_OTLP_ENDPOINT",
        base: TRACING_ON,
        cases: json_strings(&[
            "http://otel-collector.observability:4317",
            "https://otel.example:4318",
            "otel-collector:4317",
            // Not "": the binary reads an empty endpoint as tracing off, and the chart refuses
            // tracing.enabled=true without one rather than not tracing silently.
            "http://",
            "http://otel collector:4317",
        ]),
    });
    fields
}

/// What `helm template` says about `case` for `field` (none: the field's default): the
/// rendered container env, or the error (schema or a template check).
fn chart_env(field: &Field, case: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut args: Vec<&str> = ALWAYS.to_vec();
    args.extend_from_slice(field.base);
    let set = case.map(|case| format!("{}={case}", field.path));
    if let Some(set) = &set {
        args.extend(["--set-json", set]);
    }
    let out = template(NS, &args).expect("running helm");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("don't meet the specifications of the schema")
                || stderr.contains("execution error"),
            "{set:?}: helm failed other than by the schema or a template check:\n{stderr}"
        );
        return Err(stderr);
    }
    let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(Value::is_object)
        .collect();
    let deployment = find(&docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    Ok(container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|var| {
            let name = var["name"].as_str()?.to_string();
            match (
                &var["value"],
                var["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            ) {
                (Value::String(value), _) => Some((name, value.clone())),
                (_, Some("metadata.name")) => Some((name, "zen-watcher-0".into())),
                (_, Some("metadata.namespace")) => Some((name, NS.into())),
                // The token Secret: not needed for --print-config.
                _ => None,
            }
        })
        .collect())
}

/// What the binary says about `env`: Ok, or its error (exit 2).
fn binary_verdict(env: &[(String, String)]) -> Result<(), String> {
    let out = Command::new(required_env("ZEN_WATCHER_BIN"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--print-config")
        .output()
        .expect("running the watcher");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(2) => Err(stderr),
        other => panic!("--print-config exited {other:?} for {env:?}:\n{stderr}"),
    }
}

/// The text the variable holds when the chart renders `case`.
fn as_text(case: &str) -> String {
    match serde_json::from_str::<Value>(case).unwrap() {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Both verdicts on every case of `field`: (cases both accept, cases both refuse) and the
/// disagreements.
fn check(field: &Field) -> ((usize, usize), Vec<String>) {
    let mut disagreements = Vec::new();
    // A case the chart refuses renders nothing: the binary gets the field's defaults with
    // the variable set to the case's text instead.
    let defaults = chart_env(field, None).expect("the field's base values render");
    let mut sides = (0, 0);
    for case in &field.cases {
        let chart = chart_env(field, Some(case));
        let env = match &chart {
            Ok(env) => {
                if let Some((_, rendered)) = env.iter().find(|(k, _)| k == field.variable)
                    && *rendered != as_text(case)
                {
                    disagreements.push(format!(
                        "{}={case}: the chart renders {} as {rendered:?}",
                        field.path, field.variable
                    ));
                }
                env.clone()
            }
            Err(_) => {
                let mut env: Vec<_> = defaults
                    .iter()
                    .filter(|(k, _)| k != field.variable)
                    .cloned()
                    .collect();
                env.push((field.variable.to_string(), as_text(case)));
                env
            }
        };
        let binary = binary_verdict(&env);
        match (&chart, &binary) {
            (Ok(_), Ok(())) => sides.0 += 1,
            (Err(_), Err(_)) => sides.1 += 1,
            (Ok(_), Err(why)) => disagreements.push(format!(
                "{}={case}: the chart accepts it, the binary refuses it: {}",
                field.path,
                why.trim()
            )),
            (Err(why), Ok(())) => disagreements.push(format!(
                "{}={case}: the binary accepts it, the chart refuses it: {}",
                field.path,
                why.lines().last().unwrap_or_default().trim()
            )),
        }
    }
    if sides.0 == 0 || sides.1 == 0 {
        disagreements.push(format!(
            "{}: the cases must include values both accept and both refuse ({sides:?})",
            field.path
        ));
    }
    ((sides.0, sides.1), disagreements)
}

#[test]
fn the_chart_accepts_exactly_the_values_the_binary_accepts() {
    let fields = fields();
    // helm is the slow part (about 100 ms a render): four at a time.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(field) = fields.get(i) else { break };
                    let result = check(field);
                    results.lock().unwrap().push(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let accepted: usize = results.iter().map(|((a, _), _)| a).sum();
    let refused: usize = results.iter().map(|((_, r), _)| r).sum();
    let disagreements: Vec<&String> = results.iter().flat_map(|(_, d)| d).collect();
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{} fields: {accepted} cases accepted by both, {refused} refused by both",
        fields.len()
    );
}

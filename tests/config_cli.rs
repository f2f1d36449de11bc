//! The binary's configuration surface, run as a user would: environment variables, exit codes,
//! `--help`, `--print-config` and a clean exit on SIGTERM.

use std::process::{Command, Output};

use serde_json::Value;

fn watcher() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zen-watcher"));
    cmd.env_clear().env("POD_NAME", "zen-test-0");
    cmd
}

fn print_config(env: &[(&str, &str)]) -> Value {
    let out = watcher()
        .envs(env.iter().copied())
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(env: &[(&str, &str)]) -> String {
    let out: Output = watcher()
        .envs(env.iter().copied())
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "expected exit 2 for {env:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn defaults() {
    let c = print_config(&[]);
    assert_eq!(c["leader_election"], Value::Null);
    assert_eq!(c["namespace"], "zen-system");
    assert_eq!(c["identity"], "zen-test-0");
    assert_eq!(c["watcher_port"], 8080);
    assert_eq!(c["metrics_port"], 9090);
    assert_eq!(c["max_request_bytes"], 1 << 20);
    assert_eq!(c["audit_max_request_bytes"], 16 << 20);
    assert_eq!(c["webhook_rate_limit"], 0);
    assert_eq!(c["writer_concurrency"], 16);
    assert_eq!(c["writer_queue_size"], 1000);
    assert_eq!(c["shutdown_drain_delay"], "5s");
    assert_eq!(c["observation_details_max_bytes"], 32 << 10);
    assert_eq!(c["max_observations_per_source"], 50_000);
    assert_eq!(c["observation_ttl_seconds"], 7 * 86_400);
    assert_eq!(c["gc_interval"], "3600s");
    assert_eq!(c["gc_timeout"], "300s");
    assert_eq!(c["dedup_window"], "60s");
    assert_eq!(c["dedup_max_size"], 10_000);
    assert_eq!(c["filter_configmap_name"], "zen-watcher-filter");
    assert_eq!(c["filter_configmap_namespace"], "zen-system");
    assert_eq!(c["filter_configmap_key"], "filter.json");
    assert_eq!(c["log_level"], "info");
    assert_eq!(
        c["cluster_ingester_namespaces"],
        serde_json::json!(["zen-system"])
    );
}

#[test]
fn every_variable_is_read_from_the_environment() {
    let cases: &[(&str, &str, &str, Value)] = &[
        ("WATCHER_PORT", "8443", "watcher_port", 8443.into()),
        ("METRICS_PORT", "9443", "metrics_port", 9443.into()),
        (
            "WEBHOOK_AUTH_TOKEN",
            "s3cret",
            "webhook_auth_token",
            "<redacted>".into(),
        ),
        (
            "WEBHOOK_AUTH_TOKEN_FILE",
            "/etc/token",
            "webhook_auth_token_file",
            "/etc/token".into(),
        ),
        (
            "WEBHOOK_ALLOWED_IPS",
            "10.0.0.0/8,127.0.0.1",
            "webhook_allowed_ips",
            serde_json::json!(["10.0.0.0/8", "127.0.0.1/32"]),
        ),
        (
            "SERVER_TRUSTED_PROXY_CIDRS",
            "172.16.0.0/12",
            "trusted_proxy_cidrs",
            serde_json::json!(["172.16.0.0/12"]),
        ),
        (
            "SERVER_MAX_REQUEST_BYTES",
            "2MiB",
            "max_request_bytes",
            (2 << 20).into(),
        ),
        (
            "AUDIT_MAX_REQUEST_BYTES",
            "32Mi",
            "audit_max_request_bytes",
            (32 << 20).into(),
        ),
        ("WEBHOOK_RATE_LIMIT", "50", "webhook_rate_limit", 50.into()),
        ("WRITER_CONCURRENCY", "4", "writer_concurrency", 4.into()),
        ("WRITER_QUEUE_SIZE", "10", "writer_queue_size", 10.into()),
        (
            "SHUTDOWN_DRAIN_DELAY",
            "0s",
            "shutdown_drain_delay",
            "0s".into(),
        ),
        (
            "OBSERVATION_DETAILS_MAX_BYTES",
            "64KiB",
            "observation_details_max_bytes",
            (64 << 10).into(),
        ),
        (
            "MAX_OBSERVATIONS_PER_SOURCE",
            "100",
            "max_observations_per_source",
            100.into(),
        ),
        (
            "OBSERVATION_TTL_SECONDS",
            "3600",
            "observation_ttl_seconds",
            3600.into(),
        ),
        (
            "OBSERVATION_TTL_DAYS",
            "2",
            "observation_ttl_seconds",
            (2 * 86_400).into(),
        ),
        ("GC_INTERVAL", "10m", "gc_interval", "600s".into()),
        ("GC_TIMEOUT", "30s", "gc_timeout", "30s".into()),
        ("DEDUP_WINDOW_SECONDS", "5", "dedup_window", "5s".into()),
        ("DEDUP_MAX_SIZE", "7", "dedup_max_size", 7.into()),
        (
            "FILTER_CONFIGMAP_NAME",
            "f",
            "filter_configmap_name",
            "f".into(),
        ),
        (
            "FILTER_CONFIGMAP_NAMESPACE",
            "ops",
            "filter_configmap_namespace",
            "ops".into(),
        ),
        (
            "FILTER_CONFIGMAP_KEY",
            "f.json",
            "filter_configmap_key",
            "f.json".into(),
        ),
        ("LOG_LEVEL", "debug", "log_level", "debug".into()),
        ("LOG_FORMAT", "text", "log_format", "text".into()),
        (
            "CLUSTER_INGESTER_NAMESPACES",
            "a,b",
            "cluster_ingester_namespaces",
            serde_json::json!(["a", "b"]),
        ),
        ("POD_NAMESPACE", "watch", "namespace", "watch".into()),
    ];
    for (var, value, field, expected) in cases {
        let c = print_config(&[(var, value)]);
        assert_eq!(&c[*field], expected, "{var}={value}");
    }
}

#[test]
fn tls_and_leader_election_from_the_environment() {
    let c = print_config(&[
        ("WEBHOOK_TLS_CERT_FILE", "/tls/tls.crt"),
        ("WEBHOOK_TLS_KEY_FILE", "/tls/tls.key"),
        ("WEBHOOK_TLS_CLIENT_CA_FILE", "/tls/ca.crt"),
    ]);
    assert_eq!(c["tls"]["cert_file"], "/tls/tls.crt");
    assert_eq!(c["tls"]["client_ca_file"], "/tls/ca.crt");

    let c = print_config(&[
        ("ENABLE_LEADER_ELECTION", "true"),
        ("POD_NAMESPACE", "zen-system"),
        ("LEADER_ELECTION_LEASE_DURATION", "6s"),
        ("LEADER_ELECTION_RENEW_DEADLINE", "4s"),
        ("LEADER_ELECTION_RETRY_PERIOD", "1s"),
    ]);
    assert_eq!(
        c["leader_election"],
        serde_json::json!({"lease_duration": "6s", "renew_deadline": "4s", "retry_period": "1s"})
    );
}

#[test]
fn hostname_is_the_fallback_identity() {
    let out = Command::new(env!("CARGO_BIN_EXE_zen-watcher"))
        .env_clear()
        .env("HOSTNAME", "host-a")
        .arg("--print-config")
        .output()
        .unwrap();
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["identity"], "host-a");
}

#[test]
fn invalid_values_exit_2_naming_variable_and_form() {
    let msg = refused(&[("GC_INTERVAL", "hourly")]);
    assert!(
        msg.contains("GC_INTERVAL") && msg.contains("30s, 5m, 1h, 7d"),
        "{msg}"
    );
    let msg = refused(&[("WATCHER_PORT", "http")]);
    assert!(msg.contains("WATCHER_PORT"), "{msg}");
    let msg = refused(&[("ENABLE_LEADER_ELECTION", "true")]);
    assert!(msg.contains("POD_NAMESPACE"), "{msg}");
    let msg = refused(&[("WEBHOOK_ALLOWED_IPS", "10.0.0.0/40")]);
    assert!(msg.contains("WEBHOOK_ALLOWED_IPS"), "{msg}");
    let msg = refused(&[("AUDIT_MAX_REQUEST_BYTES", "big")]);
    assert!(
        msg.contains("AUDIT_MAX_REQUEST_BYTES") && msg.contains("16Mi"),
        "{msg}"
    );
    let msg = refused(&[("LOG_FORMAT", "yaml")]);
    assert!(msg.contains("LOG_FORMAT") && msg.contains("json"), "{msg}");
}

#[test]
fn trace_export_settings_are_checked_and_printed_with_the_rest() {
    let c = print_config(&[]);
    assert_eq!(c["tracing"], Value::Null, "no endpoint: tracing off");
    let c = print_config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ]);
    assert_eq!(c["tracing"]["endpoint"], "http://otel:4317");
    assert_eq!(c["tracing"]["protocol"], "grpc");
    assert_eq!(c["tracing"]["sampler"]["parent_based_trace_id_ratio"], 0.25);
    for (var, value, says) in [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "otel:4317",
            "http:// or https://",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote", "always_on"),
    ] {
        let mut env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317")];
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let msg = refused(&env);
        assert!(msg.contains(var) && msg.contains(says), "{msg}");
    }
    let msg = refused(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ]);
    assert!(msg.contains("OTEL_TRACES_SAMPLER_ARG"), "{msg}");
}

#[test]
fn help_lists_every_variable() {
    let out = watcher().arg("--help").output().unwrap();
    assert!(out.status.success());
    // Lines wrap inside "[env: X]": compare with whitespace collapsed.
    let help = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for var in [
        "ENABLE_LEADER_ELECTION",
        "POD_NAMESPACE",
        "POD_NAME",
        "LEADER_ELECTION_LEASE_DURATION",
        "LEADER_ELECTION_RENEW_DEADLINE",
        "LEADER_ELECTION_RETRY_PERIOD",
        "WATCHER_PORT",
        "METRICS_PORT",
        "WEBHOOK_AUTH_TOKEN",
        "WEBHOOK_AUTH_TOKEN_FILE",
        "WEBHOOK_ALLOWED_IPS",
        "SERVER_TRUSTED_PROXY_CIDRS",
        "WEBHOOK_TLS_CERT_FILE",
        "WEBHOOK_TLS_KEY_FILE",
        "WEBHOOK_TLS_CLIENT_CA_FILE",
        "SERVER_MAX_REQUEST_BYTES",
        "AUDIT_MAX_REQUEST_BYTES",
        "WEBHOOK_RATE_LIMIT",
        "WRITER_CONCURRENCY",
        "WRITER_QUEUE_SIZE",
        "SHUTDOWN_DRAIN_DELAY",
        "OBSERVATION_DETAILS_MAX_BYTES",
        "MAX_OBSERVATIONS_PER_SOURCE",
        "OBSERVATION_TTL_SECONDS",
        "OBSERVATION_TTL_DAYS",
        "GC_INTERVAL",
        "GC_TIMEOUT",
        "DEDUP_WINDOW_SECONDS",
        "DEDUP_MAX_SIZE",
        "FILTER_CONFIGMAP_NAME",
        "FILTER_CONFIGMAP_NAMESPACE",
        "FILTER_CONFIGMAP_KEY",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "CLUSTER_INGESTER_NAMESPACES",
    ] {
        assert!(help.contains(&format!("[env: {var}")), "--help lacks {var}");
    }
}

#[test]
fn without_a_cluster_it_exits_with_a_clear_error() {
    let out = watcher()
        .env("LOG_FORMAT", "json")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connecting to the Kubernetes API"),
        "{stderr}"
    );
}

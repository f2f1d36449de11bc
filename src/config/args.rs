//! The clap surface: every flag with its environment variable, default and `--help` text.
//! README.md's configuration table is generated from it (`make readme`).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};
use ipnet::IpNet;
use serde::Serialize;

use zen_watcher_core::units::{parse_bytes, parse_cidr, parse_duration};

/// Command-line flags and their environment variables, as clap parses them.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "zen-watcher",
    version,
    about = "Turns Falco, Kubernetes audit, Kyverno, Trivy and Ingester-declared signals into Observation resources",
    max_term_width = 110
)]
pub struct Args {
    // --- leader election ---
    /// Run informers, Ingester orchestration and GC only on the Lease holder (for more than one replica).
    #[arg(long, env = "ENABLE_LEADER_ELECTION", default_value = "false", value_parser = BoolishValueParser::new(),
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", help_heading = "Leader election")]
    pub enable_leader_election: bool,
    /// The watcher's own namespace (Lease, filter ConfigMap, cluster-scoped Observations). Required with leader election; else the ServiceAccount namespace file, else zen-system.
    #[arg(long, env = "POD_NAMESPACE", help_heading = "Leader election")]
    pub pod_namespace: Option<String>,
    /// Identity in the Lease (falls back to HOSTNAME).
    #[arg(long, env = "POD_NAME", help_heading = "Leader election")]
    pub pod_name: Option<String>,
    #[arg(long, env = "HOSTNAME", hide = true)]
    pub hostname: Option<String>,
    /// How long a Lease is valid after a renewal.
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration, help_heading = "Leader election")]
    pub leader_election_lease_duration: Duration,
    /// A leader that cannot renew for this long steps down.
    #[arg(long, env = "LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration, help_heading = "Leader election")]
    pub leader_election_renew_deadline: Duration,
    /// Interval between acquisition and renewal attempts.
    #[arg(long, env = "LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration, help_heading = "Leader election")]
    pub leader_election_retry_period: Duration,

    // --- server ---
    /// Webhook port (plus /healthz, /readyz, /metrics while it is plain HTTP); 0 picks a free port.
    #[arg(
        long,
        env = "WATCHER_PORT",
        default_value_t = 8080,
        help_heading = "Server"
    )]
    pub watcher_port: u16,
    /// Plain-HTTP port for /healthz, /readyz and /metrics; 0 picks a free port.
    #[arg(
        long,
        env = "METRICS_PORT",
        default_value_t = 9090,
        help_heading = "Server"
    )]
    pub metrics_port: u16,
    /// Bearer token webhook callers must send.
    #[arg(
        long,
        env = "WEBHOOK_AUTH_TOKEN",
        hide_env_values = true,
        help_heading = "Server"
    )]
    pub webhook_auth_token: Option<String>,
    /// File holding the bearer token (re-read when it changes).
    #[arg(long, env = "WEBHOOK_AUTH_TOKEN_FILE", help_heading = "Server")]
    pub webhook_auth_token_file: Option<PathBuf>,
    /// Client addresses allowed to call webhooks (comma-separated CIDRs).
    #[arg(long, env = "WEBHOOK_ALLOWED_IPS", value_delimiter = ',', value_parser = parse_cidr, help_heading = "Server")]
    pub webhook_allowed_ips: Vec<IpNet>,
    /// Proxies whose X-Forwarded-For is trusted (comma-separated CIDRs).
    #[arg(long, env = "SERVER_TRUSTED_PROXY_CIDRS", value_delimiter = ',', value_parser = parse_cidr, help_heading = "Server")]
    pub server_trusted_proxy_cidrs: Vec<IpNet>,
    /// Serving certificate (PEM) for HTTPS webhooks (re-read when it changes).
    #[arg(long, env = "WEBHOOK_TLS_CERT_FILE", help_heading = "Server")]
    pub webhook_tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of the serving certificate.
    #[arg(long, env = "WEBHOOK_TLS_KEY_FILE", help_heading = "Server")]
    pub webhook_tls_key_file: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to (mTLS).
    #[arg(long, env = "WEBHOOK_TLS_CLIENT_CA_FILE", help_heading = "Server")]
    pub webhook_tls_client_ca_file: Option<PathBuf>,
    /// mTLS: client certificate names (SAN DNS or URI, or CN; comma-separated) allowed on /falco/webhook; empty allows any certificate the CA verified.
    #[arg(
        long,
        env = "WEBHOOK_TLS_CLIENT_NAMES_FALCO",
        value_delimiter = ',',
        help_heading = "Server"
    )]
    pub webhook_tls_client_names_falco: Vec<String>,
    /// mTLS: client certificate names allowed on /audit/webhook (as for FALCO).
    #[arg(
        long,
        env = "WEBHOOK_TLS_CLIENT_NAMES_AUDIT",
        value_delimiter = ',',
        help_heading = "Server"
    )]
    pub webhook_tls_client_names_audit: Vec<String>,
    /// mTLS: client certificate names allowed on Ingester paths that use the global auth (as for FALCO).
    #[arg(
        long,
        env = "WEBHOOK_TLS_CLIENT_NAMES_INGESTERS",
        value_delimiter = ',',
        help_heading = "Server"
    )]
    pub webhook_tls_client_names_ingesters: Vec<String>,

    // --- limits ---
    /// Largest accepted webhook body.
    #[arg(long, env = "SERVER_MAX_REQUEST_BYTES", default_value = "1MiB", value_parser = parse_bytes, help_heading = "Limits")]
    pub server_max_request_bytes: u64,
    /// Largest accepted body on /audit/webhook.
    #[arg(long, env = "AUDIT_MAX_REQUEST_BYTES", default_value = "16MiB", value_parser = parse_bytes, help_heading = "Limits")]
    pub audit_max_request_bytes: u64,
    /// Requests per second per webhook endpoint; 0 turns rate limiting off.
    #[arg(
        long,
        env = "WEBHOOK_RATE_LIMIT",
        default_value_t = 0,
        help_heading = "Limits"
    )]
    pub webhook_rate_limit: u32,
    /// Observation writes in flight at once.
    #[arg(
        long,
        env = "WRITER_CONCURRENCY",
        default_value_t = 16,
        help_heading = "Limits"
    )]
    pub writer_concurrency: usize,
    /// Events waiting to be written before webhooks answer 503.
    #[arg(
        long,
        env = "WRITER_QUEUE_SIZE",
        default_value_t = 1000,
        help_heading = "Limits"
    )]
    pub writer_queue_size: usize,
    /// Longest a webhook request may take before it is answered 503 with Retry-After (keep it below the senders' own timeouts: the apiserver's audit backend gives up at 30s).
    #[arg(long, env = "WEBHOOK_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub webhook_request_timeout: Duration,
    /// Longest one apiserver request of a write may take (connect, send, answer) before it fails as transient and is retried.
    #[arg(long, env = "APISERVER_REQUEST_TIMEOUT", default_value = "5s", value_parser = parse_duration, help_heading = "Limits")]
    pub apiserver_request_timeout: Duration,
    /// Connections each listener serves at once; further clients wait in the accept queue.
    #[arg(
        long,
        env = "SERVER_MAX_CONNECTIONS",
        default_value_t = 1024,
        help_heading = "Limits"
    )]
    pub server_max_connections: usize,
    /// Longest a client may take to send a request's headers (HTTP/1; also how long an idle keep-alive connection waits for its next request).
    #[arg(long, env = "SERVER_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub server_header_read_timeout: Duration,
    /// Longest a client may take to send a webhook body (answered 408 past it; WEBHOOK_REQUEST_TIMEOUT bounds the whole request).
    #[arg(long, env = "SERVER_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub server_body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/1 and HTTP/2).
    #[arg(long, env = "SERVER_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration, help_heading = "Limits")]
    pub server_idle_timeout: Duration,
    /// HTTP/2: interval of keep-alive pings; a client that does not answer one within the same time is disconnected.
    #[arg(long, env = "SERVER_HTTP2_KEEPALIVE_INTERVAL", default_value = "20s", value_parser = parse_duration, help_heading = "Limits")]
    pub server_http2_keepalive_interval: Duration,
    /// HTTP/2: streams (requests) one connection may have open at once.
    #[arg(
        long,
        env = "SERVER_HTTP2_MAX_CONCURRENT_STREAMS",
        default_value_t = 100,
        help_heading = "Limits"
    )]
    pub server_http2_max_concurrent_streams: u32,
    /// Time between SIGTERM and closing the listeners (endpoints are removed meanwhile).
    #[arg(long, env = "SHUTDOWN_DRAIN_DELAY", default_value = "5s", value_parser = parse_duration, help_heading = "Limits")]
    pub shutdown_drain_delay: Duration,
    /// Largest `details` written on an Observation (larger ones are truncated with a marker).
    #[arg(long, env = "OBSERVATION_DETAILS_MAX_BYTES", default_value = "32KiB", value_parser = parse_bytes, help_heading = "Limits")]
    pub observation_details_max_bytes: u64,
    /// Live Observations per source beyond which new events are dropped (reason `cap`).
    #[arg(
        long,
        env = "MAX_OBSERVATIONS_PER_SOURCE",
        default_value_t = 50_000,
        help_heading = "Limits"
    )]
    pub max_observations_per_source: u64,

    // --- retention and dedup ---
    /// Observation TTL in seconds (wins over OBSERVATION_TTL_DAYS); clamped to 60s..1 year.
    #[arg(
        long,
        env = "OBSERVATION_TTL_SECONDS",
        help_heading = "Retention and dedup"
    )]
    pub observation_ttl_seconds: Option<u64>,
    /// Observation TTL in days.
    #[arg(
        long,
        env = "OBSERVATION_TTL_DAYS",
        default_value_t = 7,
        help_heading = "Retention and dedup"
    )]
    pub observation_ttl_days: u64,
    /// How often the leader deletes expired Observations.
    #[arg(long, env = "GC_INTERVAL", default_value = "1h", value_parser = parse_duration, help_heading = "Retention and dedup")]
    pub gc_interval: Duration,
    /// Longest one GC run may take.
    #[arg(long, env = "GC_TIMEOUT", default_value = "5m", value_parser = parse_duration, help_heading = "Retention and dedup")]
    pub gc_timeout: Duration,
    /// In-memory window in which a repeated fingerprint is suppressed; 0 turns the cache off.
    #[arg(
        long,
        env = "DEDUP_WINDOW_SECONDS",
        default_value_t = 60,
        help_heading = "Retention and dedup"
    )]
    pub dedup_window_seconds: u64,
    /// How often recurrences the dedup window suppressed are counted into their Observations' status.occurrences (at most one status write per Observation per interval).
    #[arg(long, env = "OCCURRENCE_FLUSH_INTERVAL", default_value = "5s", value_parser = parse_duration, help_heading = "Retention and dedup")]
    pub occurrence_flush_interval: Duration,
    /// Entries in the dedup cache (least recently used are evicted).
    #[arg(
        long,
        env = "DEDUP_MAX_SIZE",
        default_value_t = 10_000,
        help_heading = "Retention and dedup"
    )]
    pub dedup_max_size: usize,

    // --- filter ---
    /// ConfigMap holding the filter rules.
    #[arg(
        long,
        env = "FILTER_CONFIGMAP_NAME",
        default_value = "zen-watcher-filter",
        help_heading = "Filter"
    )]
    pub filter_configmap_name: String,
    /// Namespace of the filter ConfigMap (default: the watcher's namespace).
    #[arg(long, env = "FILTER_CONFIGMAP_NAMESPACE", help_heading = "Filter")]
    pub filter_configmap_namespace: Option<String>,
    /// Key of the filter rules in the ConfigMap.
    #[arg(
        long,
        env = "FILTER_CONFIGMAP_KEY",
        default_value = "filter.json",
        help_heading = "Filter"
    )]
    pub filter_configmap_key: String,

    // --- other ---
    /// Log filter: a level (off, error, warn, info, debug, trace) or comma-separated `level` and
    /// `target=level` directives such as info,kube=warn (RUST_LOG, when set, wins and takes
    /// tracing's full syntax).
    #[arg(
        long,
        env = "LOG_LEVEL",
        default_value = "info",
        help_heading = "Other"
    )]
    pub log_level: String,
    /// Log format (default: json, or text when stderr is a terminal).
    #[arg(long, env = "LOG_FORMAT", value_enum, help_heading = "Other")]
    pub log_format: Option<LogFormat>,
    /// Namespaces whose Ingesters may watch and write cluster-wide (comma-separated; default: the watcher's namespace).
    #[arg(
        long,
        env = "CLUSTER_INGESTER_NAMESPACES",
        value_delimiter = ',',
        help_heading = "Other"
    )]
    pub cluster_ingester_namespaces: Vec<String>,
    /// Print the resolved configuration as JSON (secrets redacted) and exit.
    #[arg(long, help_heading = "Other")]
    pub print_config: bool,
}

#[derive(ValueEnum, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

//! Every setting of zen-watcher, from command-line flags and environment variables, validated
//! once at start. `zen-watcher --help` lists them with their env names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, Parser, ValueEnum};
use ipnet::IpNet;
use serde::Serialize;

pub use zen_watcher_core::observation::{TTL_MAX_SECONDS, TTL_MIN_SECONDS};
pub use zen_watcher_core::units::{is_dns_label, parse_bytes, parse_cidr, parse_duration};

/// Where the watcher's namespace is read from when `POD_NAMESPACE` is unset.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// The namespace used when neither `POD_NAMESPACE` nor the ServiceAccount file says one.
pub const FALLBACK_NAMESPACE: &str = "zen-system";

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
    /// Log filter: a level (error, warn, info, debug, trace) or RUST_LOG-style directives.
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

/// The validated configuration the rest of the program reads.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Config {
    pub leader_election: Option<LeaderElection>,
    pub namespace: String,
    pub identity: String,
    pub watcher_port: u16,
    pub metrics_port: u16,
    #[serde(serialize_with = "redacted")]
    pub webhook_auth_token: Option<String>,
    pub webhook_auth_token_file: Option<PathBuf>,
    pub webhook_allowed_ips: Vec<IpNet>,
    pub trusted_proxy_cidrs: Vec<IpNet>,
    pub tls: Option<TlsFiles>,
    pub tls_client_names: TlsClientNames,
    pub max_request_bytes: u64,
    pub audit_max_request_bytes: u64,
    pub webhook_rate_limit: u32,
    pub writer_concurrency: usize,
    pub writer_queue_size: usize,
    #[serde(with = "duration_text")]
    pub webhook_request_timeout: Duration,
    #[serde(with = "duration_text")]
    pub apiserver_request_timeout: Duration,
    #[serde(with = "duration_text")]
    pub shutdown_drain_delay: Duration,
    pub server_connections: ServerConnections,
    pub observation_details_max_bytes: u64,
    pub max_observations_per_source: u64,
    pub observation_ttl_seconds: u64,
    #[serde(with = "duration_text")]
    pub gc_interval: Duration,
    #[serde(with = "duration_text")]
    pub gc_timeout: Duration,
    #[serde(with = "duration_text")]
    pub dedup_window: Duration,
    #[serde(with = "duration_text")]
    pub occurrence_flush_interval: Duration,
    pub dedup_max_size: usize,
    pub filter_configmap_name: String,
    pub filter_configmap_namespace: String,
    pub filter_configmap_key: String,
    pub log_level: String,
    pub log_format: Option<LogFormat>,
    pub cluster_ingester_namespaces: Vec<String>,
    /// Things worth a warning at start (values clamped, auth not configured).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `WEBHOOK_TLS_CLIENT_NAMES_*`: the client certificate names each endpoint accepts (empty:
/// any certificate the client CA verified).
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientNames {
    pub falco: Vec<String>,
    pub audit: Vec<String>,
    pub ingesters: Vec<String>,
}

/// What one connection may hold and for how long (`SERVER_*` limits).
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConnections {
    pub max_connections: usize,
    #[serde(with = "duration_text")]
    pub header_read_timeout: Duration,
    #[serde(with = "duration_text")]
    pub body_read_timeout: Duration,
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    #[serde(with = "duration_text")]
    pub http2_keepalive_interval: Duration,
    pub http2_max_concurrent_streams: u32,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderElection {
    #[serde(with = "duration_text")]
    pub lease_duration: Duration,
    #[serde(with = "duration_text")]
    pub renew_deadline: Duration,
    #[serde(with = "duration_text")]
    pub retry_period: Duration,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

/// Why the configuration was refused. The message names the variable (and its flag) and the
/// accepted form; the process exits with status 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid {variable} ({flag}): {problem}")]
    Invalid {
        variable: &'static str,
        flag: &'static str,
        problem: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Parse(String),
}

/// What `load` returns: a config to run, one to print (`--print-config`), or clap's own output
/// for `--help` and `--version`.
#[derive(Debug)]
pub enum LoadOutcome {
    Run(Box<Config>),
    /// `--print-config`: print the validated configuration (secrets redacted) and exit 0.
    Print(Box<Config>),
    /// `--help` or `--version`: print and exit 0.
    Display(clap::Error),
}

impl Config {
    /// Parses the process's flags and environment and validates them.
    pub fn load() -> Result<LoadOutcome, ConfigError> {
        Self::load_from(std::env::args_os(), read_service_account_namespace())
    }

    /// Parses `args` (the environment is read by clap) with the given ServiceAccount namespace.
    pub fn load_from<I, T>(
        args: I,
        service_account_namespace: Option<String>,
    ) -> Result<LoadOutcome, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        match Args::try_parse_from(args) {
            Ok(args) => {
                let print = args.print_config;
                let config = Box::new(Self::from_args(args, service_account_namespace)?);
                Ok(if print {
                    LoadOutcome::Print(config)
                } else {
                    LoadOutcome::Run(config)
                })
            }
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ) =>
            {
                Ok(LoadOutcome::Display(err))
            }
            Err(err) => Err(describe_clap_error(&err)),
        }
    }

    /// Validates parsed flags and resolves defaults that depend on other settings.
    pub fn from_args(
        args: Args,
        service_account_namespace: Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let pod_namespace = non_empty(args.pod_namespace.clone());
        if let Some(ns) = &pod_namespace {
            check_label("POD_NAMESPACE", "--pod-namespace", ns)?;
        }
        let leader_election = if args.enable_leader_election {
            if pod_namespace.is_none() {
                return Err(invalid(
                    "POD_NAMESPACE",
                    "--pod-namespace",
                    "is required when ENABLE_LEADER_ELECTION is true (set it from the downward API: fieldRef metadata.namespace)".into(),
                ));
            }
            Some(leader_election(&args)?)
        } else {
            None
        };
        let namespace = pod_namespace
            .or_else(|| non_empty(service_account_namespace))
            .unwrap_or_else(|| FALLBACK_NAMESPACE.to_string());
        let identity = non_empty(args.pod_name)
            .or_else(|| non_empty(args.hostname))
            .ok_or_else(|| {
                invalid(
                    "POD_NAME",
                    "--pod-name",
                    "is unset and so is HOSTNAME: the watcher needs an identity (set POD_NAME from the downward API: fieldRef metadata.name)".into(),
                )
            })?;

        if args.watcher_port != 0 && args.watcher_port == args.metrics_port {
            return Err(ConfigError::Conflict(format!(
                "WATCHER_PORT and METRICS_PORT are both {}: they must differ",
                args.watcher_port
            )));
        }
        let webhook_auth_token = non_empty(args.webhook_auth_token);
        if webhook_auth_token.is_some() && args.webhook_auth_token_file.is_some() {
            return Err(ConfigError::Conflict(
                "WEBHOOK_AUTH_TOKEN and WEBHOOK_AUTH_TOKEN_FILE are both set: set one".into(),
            ));
        }
        let tls = tls_files(
            args.webhook_tls_cert_file,
            args.webhook_tls_key_file,
            args.webhook_tls_client_ca_file,
        )?;
        let names = |list: Vec<String>| -> Vec<String> {
            list.into_iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        };
        let tls_client_names = TlsClientNames {
            falco: names(args.webhook_tls_client_names_falco),
            audit: names(args.webhook_tls_client_names_audit),
            ingesters: names(args.webhook_tls_client_names_ingesters),
        };
        if tls_client_names != TlsClientNames::default()
            && tls.as_ref().is_none_or(|t| t.client_ca_file.is_none())
        {
            return Err(ConfigError::Conflict(
                "WEBHOOK_TLS_CLIENT_NAMES_FALCO, _AUDIT and _INGESTERS name client certificates: they need mTLS (WEBHOOK_TLS_CLIENT_CA_FILE)".into(),
            ));
        }
        if webhook_auth_token.is_none()
            && args.webhook_auth_token_file.is_none()
            && args.webhook_allowed_ips.is_empty()
            && tls.as_ref().is_none_or(|t| t.client_ca_file.is_none())
        {
            warnings.push(
                "no webhook authentication is configured: webhook requests are refused with 401 until WEBHOOK_AUTH_TOKEN, WEBHOOK_AUTH_TOKEN_FILE, WEBHOOK_ALLOWED_IPS or WEBHOOK_TLS_CLIENT_CA_FILE is set".into(),
            );
        }

        at_least(
            "SERVER_MAX_REQUEST_BYTES",
            "--server-max-request-bytes",
            args.server_max_request_bytes,
            1,
        )?;
        at_least(
            "AUDIT_MAX_REQUEST_BYTES",
            "--audit-max-request-bytes",
            args.audit_max_request_bytes,
            1,
        )?;
        at_least(
            "WRITER_CONCURRENCY",
            "--writer-concurrency",
            args.writer_concurrency as u64,
            1,
        )?;
        at_least(
            "WRITER_QUEUE_SIZE",
            "--writer-queue-size",
            args.writer_queue_size as u64,
            1,
        )?;
        at_least(
            "OBSERVATION_DETAILS_MAX_BYTES",
            "--observation-details-max-bytes",
            args.observation_details_max_bytes,
            1024,
        )?;
        at_least(
            "MAX_OBSERVATIONS_PER_SOURCE",
            "--max-observations-per-source",
            args.max_observations_per_source,
            1,
        )?;
        at_least(
            "DEDUP_MAX_SIZE",
            "--dedup-max-size",
            args.dedup_max_size as u64,
            1,
        )?;
        at_least(
            "GC_INTERVAL",
            "--gc-interval",
            args.gc_interval.as_secs(),
            1,
        )?;
        at_least("GC_TIMEOUT", "--gc-timeout", args.gc_timeout.as_secs(), 1)?;
        at_least(
            "SERVER_MAX_CONNECTIONS",
            "--server-max-connections",
            args.server_max_connections as u64,
            1,
        )?;
        at_least(
            "SERVER_HTTP2_MAX_CONCURRENT_STREAMS",
            "--server-http2-max-concurrent-streams",
            u64::from(args.server_http2_max_concurrent_streams),
            1,
        )?;
        let server_connections = ServerConnections {
            max_connections: args.server_max_connections,
            header_read_timeout: args.server_header_read_timeout,
            body_read_timeout: args.server_body_read_timeout,
            idle_timeout: args.server_idle_timeout,
            http2_keepalive_interval: args.server_http2_keepalive_interval,
            http2_max_concurrent_streams: args.server_http2_max_concurrent_streams,
        };
        for (variable, flag, value) in [
            (
                "WEBHOOK_REQUEST_TIMEOUT",
                "--webhook-request-timeout",
                args.webhook_request_timeout,
            ),
            (
                "APISERVER_REQUEST_TIMEOUT",
                "--apiserver-request-timeout",
                args.apiserver_request_timeout,
            ),
            (
                "OCCURRENCE_FLUSH_INTERVAL",
                "--occurrence-flush-interval",
                args.occurrence_flush_interval,
            ),
            (
                "SERVER_HEADER_READ_TIMEOUT",
                "--server-header-read-timeout",
                args.server_header_read_timeout,
            ),
            (
                "SERVER_BODY_READ_TIMEOUT",
                "--server-body-read-timeout",
                args.server_body_read_timeout,
            ),
            (
                "SERVER_IDLE_TIMEOUT",
                "--server-idle-timeout",
                args.server_idle_timeout,
            ),
            (
                "SERVER_HTTP2_KEEPALIVE_INTERVAL",
                "--server-http2-keepalive-interval",
                args.server_http2_keepalive_interval,
            ),
        ] {
            if value < Duration::from_millis(100) {
                return Err(invalid(
                    variable,
                    flag,
                    format!(
                        "{} is too short: at least 100ms",
                        duration_text::format(value)
                    ),
                ));
            }
        }

        let observation_ttl_seconds = observation_ttl(
            args.observation_ttl_seconds,
            args.observation_ttl_days,
            &mut warnings,
        );

        let filter_configmap_namespace =
            non_empty(args.filter_configmap_namespace).unwrap_or_else(|| namespace.clone());
        check_label(
            "FILTER_CONFIGMAP_NAMESPACE",
            "--filter-configmap-namespace",
            &filter_configmap_namespace,
        )?;
        if args.filter_configmap_name.is_empty() {
            return Err(invalid(
                "FILTER_CONFIGMAP_NAME",
                "--filter-configmap-name",
                "must not be empty".into(),
            ));
        }
        if args.filter_configmap_key.is_empty() {
            return Err(invalid(
                "FILTER_CONFIGMAP_KEY",
                "--filter-configmap-key",
                "must not be empty".into(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&args.log_level).map_err(|e| {
            invalid(
                "LOG_LEVEL",
                "--log-level",
                format!("{:?} is not a level (error, warn, info, debug, trace) or RUST_LOG directive: {e}", args.log_level),
            )
        })?;

        let mut cluster_ingester_namespaces: Vec<String> = args
            .cluster_ingester_namespaces
            .into_iter()
            .map(|ns| ns.trim().to_string())
            .filter(|ns| !ns.is_empty())
            .collect();
        for ns in &cluster_ingester_namespaces {
            check_label(
                "CLUSTER_INGESTER_NAMESPACES",
                "--cluster-ingester-namespaces",
                ns,
            )?;
        }
        if cluster_ingester_namespaces.is_empty() {
            cluster_ingester_namespaces.push(namespace.clone());
        }

        Ok(Config {
            leader_election,
            namespace,
            identity,
            watcher_port: args.watcher_port,
            metrics_port: args.metrics_port,
            webhook_auth_token,
            webhook_auth_token_file: args.webhook_auth_token_file,
            webhook_allowed_ips: args.webhook_allowed_ips,
            trusted_proxy_cidrs: args.server_trusted_proxy_cidrs,
            tls,
            tls_client_names,
            max_request_bytes: args.server_max_request_bytes,
            audit_max_request_bytes: args.audit_max_request_bytes,
            webhook_rate_limit: args.webhook_rate_limit,
            writer_concurrency: args.writer_concurrency,
            writer_queue_size: args.writer_queue_size,
            webhook_request_timeout: args.webhook_request_timeout,
            apiserver_request_timeout: args.apiserver_request_timeout,
            shutdown_drain_delay: args.shutdown_drain_delay,
            server_connections,
            observation_details_max_bytes: args.observation_details_max_bytes,
            max_observations_per_source: args.max_observations_per_source,
            observation_ttl_seconds,
            gc_interval: args.gc_interval,
            gc_timeout: args.gc_timeout,
            dedup_window: Duration::from_secs(args.dedup_window_seconds),
            occurrence_flush_interval: args.occurrence_flush_interval,
            dedup_max_size: args.dedup_max_size,
            filter_configmap_name: args.filter_configmap_name,
            filter_configmap_namespace,
            filter_configmap_key: args.filter_configmap_key,
            log_level: args.log_level,
            log_format: args.log_format,
            cluster_ingester_namespaces,
            warnings,
        })
    }
}

fn leader_election(args: &Args) -> Result<LeaderElection, ConfigError> {
    let lease_duration = args.leader_election_lease_duration;
    let renew_deadline = args.leader_election_renew_deadline;
    let retry_period = args.leader_election_retry_period;
    if retry_period.is_zero() {
        return Err(invalid(
            "LEADER_ELECTION_RETRY_PERIOD",
            "--leader-election-retry-period",
            "must be greater than 0".into(),
        ));
    }
    if renew_deadline <= retry_period {
        return Err(ConfigError::Conflict(format!(
            "LEADER_ELECTION_RENEW_DEADLINE ({}) must be longer than LEADER_ELECTION_RETRY_PERIOD ({})",
            duration_text::format(renew_deadline),
            duration_text::format(retry_period)
        )));
    }
    if lease_duration <= renew_deadline {
        return Err(ConfigError::Conflict(format!(
            "LEADER_ELECTION_LEASE_DURATION ({}) must be longer than LEADER_ELECTION_RENEW_DEADLINE ({})",
            duration_text::format(lease_duration),
            duration_text::format(renew_deadline)
        )));
    }
    Ok(LeaderElection {
        lease_duration,
        renew_deadline,
        retry_period,
    })
}

fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert_file), Some(key_file)) => Ok(Some(TlsFiles {
            cert_file,
            key_file,
            client_ca_file: client_ca,
        })),
        (None, None) if client_ca.is_some() => Err(ConfigError::Conflict(
            "WEBHOOK_TLS_CLIENT_CA_FILE needs WEBHOOK_TLS_CERT_FILE and WEBHOOK_TLS_KEY_FILE (mTLS runs over TLS)".into(),
        )),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Conflict(
            "WEBHOOK_TLS_CERT_FILE is set but WEBHOOK_TLS_KEY_FILE is not: set both".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Conflict(
            "WEBHOOK_TLS_KEY_FILE is set but WEBHOOK_TLS_CERT_FILE is not: set both".into(),
        )),
    }
}

fn observation_ttl(seconds: Option<u64>, days: u64, warnings: &mut Vec<String>) -> u64 {
    let (requested, variable) = match seconds {
        Some(seconds) => (seconds, "OBSERVATION_TTL_SECONDS"),
        None => (days.saturating_mul(86_400), "OBSERVATION_TTL_DAYS"),
    };
    let clamped = requested.clamp(TTL_MIN_SECONDS, TTL_MAX_SECONDS);
    if clamped != requested {
        warnings.push(format!(
            "{variable} gives a TTL of {requested}s, outside 60s..1 year: using {clamped}s"
        ));
    }
    clamped
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn invalid(variable: &'static str, flag: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid {
        variable,
        flag,
        problem,
    }
}

fn check_label(variable: &'static str, flag: &'static str, value: &str) -> Result<(), ConfigError> {
    if is_dns_label(value) {
        Ok(())
    } else {
        Err(invalid(
            variable,
            flag,
            format!(
                "{value:?} is not a namespace name (lowercase letters, digits and '-', at most 63 characters)"
            ),
        ))
    }
}

fn at_least(
    variable: &'static str,
    flag: &'static str,
    value: u64,
    min: u64,
) -> Result<(), ConfigError> {
    if value >= min {
        Ok(())
    } else {
        Err(invalid(
            variable,
            flag,
            format!("{value} is too small: the minimum is {min}"),
        ))
    }
}

/// Turns clap's error into one that names the environment variable as well as the flag.
fn describe_clap_error(err: &clap::Error) -> ConfigError {
    let flag_text = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => return ConfigError::Parse(err.render().to_string().trim().to_string()),
    };
    let long = flag_text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_start_matches("--")
        .to_string();
    let command = Args::command();
    let env = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long.as_str()))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => format!("{v:?}"),
        _ => String::new(),
    };
    let reason = std::error::Error::source(err)
        .map(|source| source.to_string())
        .unwrap_or_else(|| match err.kind() {
            ErrorKind::InvalidValue => match err.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    format!("expected one of {}", valid.join(", "))
                }
                _ => "invalid value".into(),
            },
            _ => err.kind().to_string(),
        });
    let name = match env {
        Some(env) => format!("{env} (--{long})"),
        None => format!("--{long}"),
    };
    ConfigError::Parse(format!("invalid value {value} for {name}: {reason}"))
}

fn read_service_account_namespace() -> Option<String> {
    std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE)
        .ok()
        .map(|s| s.trim().to_string())
}

fn redacted<S: serde::Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

mod duration_text {
    use std::time::Duration;

    pub fn format(d: Duration) -> String {
        if d.subsec_millis() != 0 {
            format!("{}ms", d.as_millis())
        } else {
            format!("{}s", d.as_secs())
        }
    }

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }
}

#[cfg(test)]
mod tests;

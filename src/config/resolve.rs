//! One resolver per settings group: each validates its flags and returns its part of `Config`
//! or the error naming the variable. `Config::from_args` calls them in a fixed order, so a
//! configuration with several mistakes always reports the same one first.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::{
    Args, ConfigError, FALLBACK_NAMESPACE, LeaderElection, ServerConnections, TTL_MAX_SECONDS,
    TTL_MIN_SECONDS, TlsClientNames, TlsFiles, duration_text, is_dns_label,
};

/// `POD_NAMESPACE`, trimmed (blank counts as unset).
pub(super) fn pod_namespace(args: &Args) -> Result<Option<String>, ConfigError> {
    let pod_namespace = non_empty(args.pod_namespace.clone());
    if let Some(ns) = &pod_namespace {
        check_label("POD_NAMESPACE", "--pod-namespace", ns)?;
    }
    Ok(pod_namespace)
}

/// `ENABLE_LEADER_ELECTION` and the Lease timings, which must nest.
pub(super) fn leader_election(
    args: &Args,
    pod_namespace: Option<&str>,
) -> Result<Option<LeaderElection>, ConfigError> {
    if !args.enable_leader_election {
        return Ok(None);
    }
    if pod_namespace.is_none() {
        return Err(invalid(
            "POD_NAMESPACE",
            "--pod-namespace",
            "is required when ENABLE_LEADER_ELECTION is true (set it from the downward API: fieldRef metadata.namespace)".into(),
        ));
    }
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
    Ok(Some(LeaderElection {
        lease_duration,
        renew_deadline,
        retry_period,
    }))
}

/// The watcher's namespace: `POD_NAMESPACE`, else the ServiceAccount's, else zen-system.
pub(super) fn namespace(
    pod_namespace: Option<String>,
    service_account_namespace: Option<String>,
) -> String {
    pod_namespace
        .or_else(|| non_empty(service_account_namespace))
        .unwrap_or_else(|| FALLBACK_NAMESPACE.to_string())
}

/// The Lease identity: `POD_NAME`, else `HOSTNAME`.
pub(super) fn identity(args: &Args) -> Result<String, ConfigError> {
    non_empty(args.pod_name.clone())
        .or_else(|| non_empty(args.hostname.clone()))
        .ok_or_else(|| {
            invalid(
                "POD_NAME",
                "--pod-name",
                "is unset and so is HOSTNAME: the watcher needs an identity (set POD_NAME from the downward API: fieldRef metadata.name)".into(),
            )
        })
}

pub(super) struct Ports {
    pub watcher: u16,
    pub metrics: u16,
}

pub(super) fn ports(args: &Args) -> Result<Ports, ConfigError> {
    if args.watcher_port != 0 && args.watcher_port == args.metrics_port {
        return Err(ConfigError::Conflict(format!(
            "WATCHER_PORT and METRICS_PORT are both {}: they must differ",
            args.watcher_port
        )));
    }
    Ok(Ports {
        watcher: args.watcher_port,
        metrics: args.metrics_port,
    })
}

/// Who may call the webhooks, short of mTLS.
pub(super) struct WebhookAuth {
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub allowed_ips: Vec<IpNet>,
    pub trusted_proxy_cidrs: Vec<IpNet>,
}

pub(super) fn webhook_auth(args: &Args) -> Result<WebhookAuth, ConfigError> {
    let token = non_empty(args.webhook_auth_token.clone());
    if token.is_some() && args.webhook_auth_token_file.is_some() {
        return Err(ConfigError::Conflict(
            "WEBHOOK_AUTH_TOKEN and WEBHOOK_AUTH_TOKEN_FILE are both set: set one".into(),
        ));
    }
    Ok(WebhookAuth {
        token,
        token_file: args.webhook_auth_token_file.clone(),
        allowed_ips: args.webhook_allowed_ips.clone(),
        trusted_proxy_cidrs: args.server_trusted_proxy_cidrs.clone(),
    })
}

pub(super) fn tls_files(args: &Args) -> Result<Option<TlsFiles>, ConfigError> {
    match (
        args.webhook_tls_cert_file.clone(),
        args.webhook_tls_key_file.clone(),
    ) {
        (Some(cert_file), Some(key_file)) => Ok(Some(TlsFiles {
            cert_file,
            key_file,
            client_ca_file: args.webhook_tls_client_ca_file.clone(),
        })),
        (None, None) if args.webhook_tls_client_ca_file.is_some() => Err(ConfigError::Conflict(
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

pub(super) fn tls_client_names(
    args: &Args,
    tls: Option<&TlsFiles>,
) -> Result<TlsClientNames, ConfigError> {
    let names = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    };
    let tls_client_names = TlsClientNames {
        falco: names(&args.webhook_tls_client_names_falco),
        audit: names(&args.webhook_tls_client_names_audit),
        ingesters: names(&args.webhook_tls_client_names_ingesters),
    };
    if tls_client_names != TlsClientNames::default() && !has_client_ca(tls) {
        return Err(ConfigError::Conflict(
            "WEBHOOK_TLS_CLIENT_NAMES_FALCO, _AUDIT and _INGESTERS name client certificates: they need mTLS (WEBHOOK_TLS_CLIENT_CA_FILE)".into(),
        ));
    }
    Ok(tls_client_names)
}

/// The start-up warning when no webhook caller can authenticate at all.
pub(super) fn missing_auth_warning(auth: &WebhookAuth, tls: Option<&TlsFiles>) -> Option<String> {
    (auth.token.is_none()
        && auth.token_file.is_none()
        && auth.allowed_ips.is_empty()
        && !has_client_ca(tls))
    .then(|| {
        "no webhook authentication is configured: webhook requests are refused with 401 until WEBHOOK_AUTH_TOKEN, WEBHOOK_AUTH_TOKEN_FILE, WEBHOOK_ALLOWED_IPS or WEBHOOK_TLS_CLIENT_CA_FILE is set".into()
    })
}

fn has_client_ca(tls: Option<&TlsFiles>) -> bool {
    tls.is_some_and(|t| t.client_ca_file.is_some())
}

/// What one webhook request may carry and take.
pub(super) struct RequestLimits {
    pub max_request_bytes: u64,
    pub audit_max_request_bytes: u64,
    pub webhook_rate_limit: u32,
    pub webhook_request_timeout: Duration,
}

pub(super) fn request_limits(args: &Args) -> Result<RequestLimits, ConfigError> {
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
    Ok(RequestLimits {
        max_request_bytes: args.server_max_request_bytes,
        audit_max_request_bytes: args.audit_max_request_bytes,
        webhook_rate_limit: args.webhook_rate_limit,
        webhook_request_timeout: args.webhook_request_timeout,
    })
}

/// How the Observation writer talks to the apiserver.
pub(super) struct Writer {
    pub concurrency: usize,
    pub queue_size: usize,
    pub apiserver_request_timeout: Duration,
}

pub(super) fn writer(args: &Args) -> Result<Writer, ConfigError> {
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
    Ok(Writer {
        concurrency: args.writer_concurrency,
        queue_size: args.writer_queue_size,
        apiserver_request_timeout: args.apiserver_request_timeout,
    })
}

/// What an Observation may hold, how many a source may keep, and for how long.
pub(super) struct Observations {
    pub details_max_bytes: u64,
    pub max_per_source: u64,
    pub ttl_seconds: u64,
}

pub(super) fn observations(
    args: &Args,
    warnings: &mut Vec<String>,
) -> Result<Observations, ConfigError> {
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
    Ok(Observations {
        details_max_bytes: args.observation_details_max_bytes,
        max_per_source: args.max_observations_per_source,
        ttl_seconds: observation_ttl(
            args.observation_ttl_seconds,
            args.observation_ttl_days,
            warnings,
        ),
    })
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

pub(super) struct Dedup {
    pub window: Duration,
    pub occurrence_flush_interval: Duration,
    pub max_size: usize,
}

pub(super) fn dedup(args: &Args) -> Result<Dedup, ConfigError> {
    at_least(
        "DEDUP_MAX_SIZE",
        "--dedup-max-size",
        args.dedup_max_size as u64,
        1,
    )?;
    Ok(Dedup {
        window: Duration::from_secs(args.dedup_window_seconds),
        occurrence_flush_interval: args.occurrence_flush_interval,
        max_size: args.dedup_max_size,
    })
}

pub(super) struct Gc {
    pub interval: Duration,
    pub timeout: Duration,
}

pub(super) fn gc(args: &Args) -> Result<Gc, ConfigError> {
    at_least(
        "GC_INTERVAL",
        "--gc-interval",
        args.gc_interval.as_secs(),
        1,
    )?;
    at_least("GC_TIMEOUT", "--gc-timeout", args.gc_timeout.as_secs(), 1)?;
    Ok(Gc {
        interval: args.gc_interval,
        timeout: args.gc_timeout,
    })
}

/// Its timeouts' 100ms floor is checked by `timer_floors`.
pub(super) fn server_connections(args: &Args) -> Result<ServerConnections, ConfigError> {
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
    Ok(ServerConnections {
        max_connections: args.server_max_connections,
        header_read_timeout: args.server_header_read_timeout,
        body_read_timeout: args.server_body_read_timeout,
        idle_timeout: args.server_idle_timeout,
        http2_keepalive_interval: args.server_http2_keepalive_interval,
        http2_max_concurrent_streams: args.server_http2_max_concurrent_streams,
    })
}

/// The 100ms floor of the request-limit, writer, dedup and server-connection timeouts and
/// intervals: one table, run after those groups' other checks, which keeps the order in which
/// several mistakes are reported.
pub(super) fn timer_floors(args: &Args) -> Result<(), ConfigError> {
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
    Ok(())
}

pub(super) struct FilterConfigMap {
    pub name: String,
    pub namespace: String,
    pub key: String,
}

/// The filter ConfigMap; its namespace defaults to the watcher's.
pub(super) fn filter_configmap(
    args: &Args,
    namespace: &str,
) -> Result<FilterConfigMap, ConfigError> {
    let filter_namespace =
        non_empty(args.filter_configmap_namespace.clone()).unwrap_or_else(|| namespace.to_string());
    check_label(
        "FILTER_CONFIGMAP_NAMESPACE",
        "--filter-configmap-namespace",
        &filter_namespace,
    )?;
    if args.filter_configmap_name.is_empty() {
        return Err(invalid(
            "FILTER_CONFIGMAP_NAME",
            "--filter-configmap-name",
            "must not be empty".into(),
        ));
    }
    if !crate::units::is_config_map_key(&args.filter_configmap_key) {
        return Err(invalid(
            "FILTER_CONFIGMAP_KEY",
            "--filter-configmap-key",
            format!(
                "{:?} is not a ConfigMap key (letters, digits, '-', '_' and '.', at most 253, not '.' or '..' nor starting with '..')",
                args.filter_configmap_key
            ),
        ));
    }
    Ok(FilterConfigMap {
        name: args.filter_configmap_name.clone(),
        namespace: filter_namespace,
        key: args.filter_configmap_key.clone(),
    })
}

/// `LOG_LEVEL`, kept as given once it is in the filter language of `units::check_log_filter`
/// (and so a filter tracing accepts).
pub(super) fn log_level(args: &Args) -> Result<String, ConfigError> {
    let refuse = |problem: String| invalid("LOG_LEVEL", "--log-level", problem);
    crate::units::check_log_filter(&args.log_level).map_err(refuse)?;
    tracing_subscriber::EnvFilter::try_new(args.log_level.trim())
        .map_err(|e| refuse(format!("{:?} is not a tracing filter: {e}", args.log_level)))?;
    Ok(args.log_level.trim().to_string())
}

/// `CLUSTER_INGESTER_NAMESPACES`, trimmed; none given means the watcher's own namespace.
pub(super) fn cluster_ingester_namespaces(
    args: &Args,
    namespace: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut namespaces: Vec<String> = args
        .cluster_ingester_namespaces
        .iter()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .collect();
    for ns in &namespaces {
        check_label(
            "CLUSTER_INGESTER_NAMESPACES",
            "--cluster-ingester-namespaces",
            ns,
        )?;
    }
    if namespaces.is_empty() {
        namespaces.push(namespace.to_string());
    }
    Ok(namespaces)
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

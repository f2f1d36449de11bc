//! Every setting of zen-watcher, from command-line flags and environment variables, validated
//! once at start. `zen-watcher --help` lists them with their env names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use ipnet::IpNet;
use serde::Serialize;

mod args;
mod resolve;

pub use args::{Args, LogFormat};
pub use zen_watcher_core::observation::{TTL_MAX_SECONDS, TTL_MIN_SECONDS};
pub use zen_watcher_core::units::{is_dns_label, parse_bytes, parse_cidr, parse_duration};

/// Where the watcher's namespace is read from when `POD_NAMESPACE` is unset.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// The namespace used when neither `POD_NAMESPACE` nor the ServiceAccount file says one.
pub const FALLBACK_NAMESPACE: &str = "zen-system";

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

    /// Validates parsed flags and resolves defaults that depend on other settings, one settings
    /// group at a time; the first mistake found is the error.
    pub fn from_args(
        args: Args,
        service_account_namespace: Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let pod_namespace = resolve::pod_namespace(&args)?;
        let leader_election = resolve::leader_election(&args, pod_namespace.as_deref())?;
        let namespace = resolve::namespace(pod_namespace, service_account_namespace);
        let identity = resolve::identity(&args)?;
        let ports = resolve::ports(&args)?;
        let auth = resolve::webhook_auth(&args)?;
        let tls = resolve::tls_files(&args)?;
        let tls_client_names = resolve::tls_client_names(&args, tls.as_ref())?;
        warnings.extend(resolve::missing_auth_warning(&auth, tls.as_ref()));
        let requests = resolve::request_limits(&args)?;
        let writer = resolve::writer(&args)?;
        let observations = resolve::observations(&args, &mut warnings)?;
        let dedup = resolve::dedup(&args)?;
        let gc = resolve::gc(&args)?;
        let server_connections = resolve::server_connections(&args)?;
        resolve::timer_floors(&args)?;
        let filter = resolve::filter_configmap(&args, &namespace)?;
        let log_level = resolve::log_level(&args)?;
        let cluster_ingester_namespaces = resolve::cluster_ingester_namespaces(&args, &namespace)?;

        Ok(Config {
            leader_election,
            namespace,
            identity,
            watcher_port: ports.watcher,
            metrics_port: ports.metrics,
            webhook_auth_token: auth.token,
            webhook_auth_token_file: auth.token_file,
            webhook_allowed_ips: auth.allowed_ips,
            trusted_proxy_cidrs: auth.trusted_proxy_cidrs,
            tls,
            tls_client_names,
            max_request_bytes: requests.max_request_bytes,
            audit_max_request_bytes: requests.audit_max_request_bytes,
            webhook_rate_limit: requests.webhook_rate_limit,
            writer_concurrency: writer.concurrency,
            writer_queue_size: writer.queue_size,
            webhook_request_timeout: requests.webhook_request_timeout,
            apiserver_request_timeout: writer.apiserver_request_timeout,
            shutdown_drain_delay: args.shutdown_drain_delay,
            server_connections,
            observation_details_max_bytes: observations.details_max_bytes,
            max_observations_per_source: observations.max_per_source,
            observation_ttl_seconds: observations.ttl_seconds,
            gc_interval: gc.interval,
            gc_timeout: gc.timeout,
            dedup_window: dedup.window,
            occurrence_flush_interval: dedup.occurrence_flush_interval,
            dedup_max_size: dedup.max_size,
            filter_configmap_name: filter.name,
            filter_configmap_namespace: filter.namespace,
            filter_configmap_key: filter.key,
            log_level,
            log_format: args.log_format,
            cluster_ingester_namespaces,
            warnings,
        })
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

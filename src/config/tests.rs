//! Parsing and validation through flags. Environment variables are covered by
//! `tests/config_cli.rs`, which runs the binary with a controlled environment.

use super::*;

fn load(extra: &[&str]) -> Result<Config, ConfigError> {
    let mut args = vec!["zen-watcher", "--pod-name", "zen-0"];
    args.extend_from_slice(extra);
    match Config::load_from(args, None)? {
        LoadOutcome::Run(config) => Ok(*config),
        other => panic!("unexpected help/version/print output: {other:?}"),
    }
}

fn message(extra: &[&str]) -> String {
    load(extra)
        .expect_err("expected a config error")
        .to_string()
}

#[test]
fn durations_accept_every_form() {
    let c = load(&[
        "--gc-interval",
        "30s",
        "--gc-timeout",
        "5m",
        "--shutdown-drain-delay",
        "1h",
    ])
    .unwrap();
    assert_eq!(c.gc_interval, Duration::from_secs(30));
    assert_eq!(c.gc_timeout, Duration::from_secs(300));
    assert_eq!(c.shutdown_drain_delay, Duration::from_secs(3600));
    let c = load(&["--gc-interval", "7d"]).unwrap();
    assert_eq!(c.gc_interval, Duration::from_secs(7 * 86_400));
}

#[test]
fn bad_duration_names_variable_flag_and_form() {
    let msg = message(&["--gc-interval", "soon"]);
    assert!(msg.contains("GC_INTERVAL"), "{msg}");
    assert!(msg.contains("--gc-interval"), "{msg}");
    assert!(msg.contains("\"soon\""), "{msg}");
    assert!(msg.contains("30s, 5m, 1h, 7d"), "{msg}");
}

#[test]
fn bad_number_names_variable() {
    let msg = message(&["--watcher-port", "70000"]);
    assert!(msg.contains("WATCHER_PORT (--watcher-port)"), "{msg}");
}

#[test]
fn bad_enum_lists_accepted_values() {
    let msg = message(&["--log-format", "xml"]);
    assert!(msg.contains("LOG_FORMAT"), "{msg}");
    assert!(msg.contains("json") && msg.contains("text"), "{msg}");
}

#[test]
fn leader_election_needs_pod_namespace() {
    let msg = message(&["--enable-leader-election"]);
    assert!(
        msg.contains("POD_NAMESPACE") && msg.contains("required"),
        "{msg}"
    );
    let c = load(&["--enable-leader-election", "--pod-namespace", "zen-system"]).unwrap();
    let le = c.leader_election.unwrap();
    assert_eq!(le.lease_duration, Duration::from_secs(15));
    assert_eq!(le.renew_deadline, Duration::from_secs(10));
    assert_eq!(le.retry_period, Duration::from_secs(2));
}

#[test]
fn leader_election_accepts_boolish_values() {
    for on in ["true", "1", "yes", "on"] {
        let c = load(&["--enable-leader-election", on, "--pod-namespace", "a"]).unwrap();
        assert!(c.leader_election.is_some(), "{on}");
    }
    let c = load(&["--enable-leader-election", "false"]).unwrap();
    assert!(c.leader_election.is_none());
    assert!(message(&["--enable-leader-election", "maybe"]).contains("ENABLE_LEADER_ELECTION"));
}

#[test]
fn leader_election_timings_must_nest() {
    let base = ["--enable-leader-election", "--pod-namespace", "a"];
    let msg = message(&[&base[..], &["--leader-election-renew-deadline", "20s"]].concat());
    assert!(
        msg.contains("LEADER_ELECTION_LEASE_DURATION (15s) must be longer"),
        "{msg}"
    );
    let msg = message(&[&base[..], &["--leader-election-retry-period", "10s"]].concat());
    assert!(
        msg.contains("LEADER_ELECTION_RENEW_DEADLINE (10s) must be longer"),
        "{msg}"
    );
    let c = load(
        &[
            &base[..],
            &[
                "--leader-election-lease-duration",
                "3s",
                "--leader-election-renew-deadline",
                "2s",
                "--leader-election-retry-period",
                "500ms",
            ],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(
        c.leader_election.unwrap().retry_period,
        Duration::from_millis(500)
    );
}

#[test]
fn namespace_falls_back_to_service_account_then_zen_system() {
    let c = load(&[]).unwrap();
    assert_eq!(c.namespace, "zen-system");
    assert_eq!(c.filter_configmap_namespace, "zen-system");
    assert_eq!(c.cluster_ingester_namespaces, vec!["zen-system"]);
    let from_sa =
        Config::load_from(["zen-watcher", "--pod-name", "p"], Some("from-sa\n".into())).unwrap();
    let LoadOutcome::Run(c) = from_sa else {
        panic!()
    };
    assert_eq!(c.namespace, "from-sa");
    let c = load(&["--pod-namespace", "mine"]).unwrap();
    assert_eq!(c.namespace, "mine");
}

#[test]
fn bad_namespace_is_refused() {
    let msg = message(&["--pod-namespace", "Not_Valid"]);
    assert!(
        msg.contains("POD_NAMESPACE") && msg.contains("not a namespace name"),
        "{msg}"
    );
    let msg = message(&["--cluster-ingester-namespaces", "ok,BAD"]);
    assert!(msg.contains("CLUSTER_INGESTER_NAMESPACES"), "{msg}");
}

#[test]
fn identity_is_required() {
    let err = Config::load_from(["zen-watcher", "--pod-name", ""], None);
    // An empty POD_NAME counts as unset; HOSTNAME may be set in the test environment.
    if std::env::var_os("HOSTNAME").is_none() {
        let msg = err.unwrap_err().to_string();
        assert!(
            msg.contains("POD_NAME") && msg.contains("HOSTNAME"),
            "{msg}"
        );
    }
    let c = load(&["--hostname", "ignored"]).unwrap();
    assert_eq!(c.identity, "zen-0");
}

#[test]
fn ttl_seconds_win_over_days_and_are_clamped() {
    assert_eq!(load(&[]).unwrap().observation_ttl_seconds, 7 * 86_400);
    assert_eq!(
        load(&["--observation-ttl-days", "1"])
            .unwrap()
            .observation_ttl_seconds,
        86_400
    );
    let c = load(&[
        "--observation-ttl-days",
        "1",
        "--observation-ttl-seconds",
        "3600",
    ])
    .unwrap();
    assert_eq!(c.observation_ttl_seconds, 3600);
    let c = load(&["--observation-ttl-seconds", "5"]).unwrap();
    assert_eq!(c.observation_ttl_seconds, 60);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("OBSERVATION_TTL_SECONDS"))
    );
    let c = load(&["--observation-ttl-days", "400"]).unwrap();
    assert_eq!(c.observation_ttl_seconds, 31_536_000);
}

#[test]
fn sizes_and_limits() {
    let c = load(&[]).unwrap();
    assert_eq!(c.max_request_bytes, 1 << 20);
    assert_eq!(c.audit_max_request_bytes, 16 << 20);
    assert_eq!(c.observation_details_max_bytes, 32 << 10);
    let c = load(&["--server-max-request-bytes", "2Mi"]).unwrap();
    assert_eq!(c.max_request_bytes, 2 << 20);
    let msg = message(&["--server-max-request-bytes", "lots"]);
    assert!(
        msg.contains("SERVER_MAX_REQUEST_BYTES") && msg.contains("1MiB"),
        "{msg}"
    );
    let msg = message(&["--writer-concurrency", "0"]);
    assert!(
        msg.contains("WRITER_CONCURRENCY") && msg.contains("minimum is 1"),
        "{msg}"
    );
}

#[test]
fn cidrs_are_parsed() {
    let c = load(&["--webhook-allowed-ips", "10.0.0.0/8,192.168.1.5"]).unwrap();
    assert_eq!(c.webhook_allowed_ips.len(), 2);
    assert_eq!(c.webhook_allowed_ips[1].to_string(), "192.168.1.5/32");
    let msg = message(&["--webhook-allowed-ips", "10.0.0.0/8,nope"]);
    assert!(
        msg.contains("WEBHOOK_ALLOWED_IPS") && msg.contains("\"nope\""),
        "{msg}"
    );
}

#[test]
fn tls_files_come_in_pairs() {
    assert!(message(&["--webhook-tls-cert-file", "c.pem"]).contains("WEBHOOK_TLS_KEY_FILE"));
    assert!(message(&["--webhook-tls-key-file", "k.pem"]).contains("WEBHOOK_TLS_CERT_FILE"));
    assert!(message(&["--webhook-tls-client-ca-file", "ca.pem"]).contains("mTLS"));
    let c = load(&[
        "--webhook-tls-cert-file",
        "c.pem",
        "--webhook-tls-key-file",
        "k.pem",
        "--webhook-tls-client-ca-file",
        "ca.pem",
    ])
    .unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.client_ca_file, Some(PathBuf::from("ca.pem")));
}

#[test]
fn token_and_token_file_are_exclusive() {
    let msg = message(&[
        "--webhook-auth-token",
        "t",
        "--webhook-auth-token-file",
        "/t",
    ]);
    assert!(msg.contains("both set"), "{msg}");
}

#[test]
fn missing_auth_is_a_warning_not_an_error() {
    let c = load(&[]).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("no webhook authentication"))
    );
    let c = load(&["--webhook-auth-token", "secret"]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn ports_must_differ() {
    assert!(message(&["--watcher-port", "9000", "--metrics-port", "9000"]).contains("must differ"));
    let c = load(&["--watcher-port", "0", "--metrics-port", "0"]).unwrap();
    assert_eq!((c.watcher_port, c.metrics_port), (0, 0));
}

#[test]
fn log_level_must_be_a_filter() {
    assert!(load(&["--log-level", "debug"]).is_ok());
    assert!(load(&["--log-level", "info,kube_client=debug"]).is_ok());
    let msg = message(&["--log-level", "loud=="]);
    assert!(msg.contains("LOG_LEVEL"), "{msg}");
}

#[test]
fn a_bare_word_is_not_a_log_level() {
    // RUST_LOG reads `verbose` as a target, which would keep almost no line.
    for word in ["verbose", "INFO", "warning"] {
        let msg = message(&["--log-level", word]);
        assert!(
            msg.contains("LOG_LEVEL") && msg.contains("is not a level"),
            "{msg}"
        );
    }
}

#[test]
fn printed_config_redacts_the_token() {
    let c = load(&["--webhook-auth-token", "hunter2"]).unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("hunter2"));
    assert!(json.contains("<redacted>"));
}

#[test]
fn help_lists_every_setting_with_its_env() {
    let help = Args::command().render_long_help().to_string();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for arg in Args::command().get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(help.contains(&format!("[env: {env}")), "--help lacks {env}");
        }
    }
}

/// The README's configuration table is generated from the flags; `make readme` rewrites it.
#[test]
fn readme_configuration_table_matches_help() {
    const START: &str = "<!-- config-table:start (generated by `make readme`) -->\n";
    const END: &str = "<!-- config-table:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md lacks the configuration table markers");
    };
    let expected = configuration_table();
    let current = &readme[start + START.len()..end];
    if current != expected {
        if std::env::var_os("ZEN_UPDATE_README").is_some() {
            let updated = format!("{}{START}{expected}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!("README.md's configuration table is out of date: run `make readme`");
        }
    }
}

fn configuration_table() -> String {
    let mut out = String::from("| Variable | Flag | Default | Meaning |\n|---|---|---|---|\n");
    for arg in Args::command().get_arguments() {
        let (Some(env), false) = (arg.get_env(), arg.is_hide_set()) else {
            continue;
        };
        let default = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let help = arg
            .get_help()
            .map(|h| h.to_string().replace('|', "\\|"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | `--{}` | {} | {} |\n",
            env.to_string_lossy(),
            arg.get_long().unwrap_or_default(),
            if default.is_empty() {
                "".to_string()
            } else {
                format!("`{default}`")
            },
            help
        ));
    }
    out
}

#[test]
fn print_config_is_an_outcome_of_its_own_after_validation() {
    let args = ["zen-watcher", "--pod-name", "zen-0", "--print-config"];
    let outcome = Config::load_from(args, Some("ns".into())).unwrap();
    let LoadOutcome::Print(config) = outcome else {
        panic!("expected Print, got {outcome:?}");
    };
    assert_eq!(config.identity, "zen-0");
    let invalid = ["zen-watcher", "--print-config", "--gc-interval", "soon"];
    assert!(Config::load_from(invalid, Some("ns".into())).is_err());
}

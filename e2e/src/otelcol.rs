//! A real OpenTelemetry Collector (built by `scripts/build-otelcol.sh`, `ZEN_OTELCOL_BIN`)
//! receiving OTLP on free ports and writing what it receives to a JSON file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use crate::{required_env, unique_suffix};

pub struct Collector {
    pub grpc_port: u16,
    pub http_port: u16,
    pub file: PathBuf,
    child: Child,
    log: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Collector {
    pub fn start() -> anyhow::Result<Self> {
        let binary = required_env("ZEN_OTELCOL_BIN");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".run/otelcol")
            .join(unique_suffix());
        std::fs::create_dir_all(&dir)?;
        let (grpc_port, http_port) = (free_port()?, free_port()?);
        let file = dir.join("spans.json");
        let log = dir.join("collector.log");
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("otelcol/config.yaml");
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .env("OTLP_GRPC_PORT", grpc_port.to_string())
            .env("OTLP_HTTP_PORT", http_port.to_string())
            .env("OTEL_FILE", &file)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::options().append(true).open(&log)?)
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let mut collector = Self {
            grpc_port,
            http_port,
            file,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !collector.log_text().contains("Everything is ready") {
            if let Some(status) = collector.child.try_wait()? {
                anyhow::bail!("the collector exited ({status}):\n{}", collector.log_text());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the collector is not ready:\n{}",
                collector.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(collector)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every span received so far, flattened from the exported requests.
    pub fn spans(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut spans = Vec::new();
        for line in text.lines() {
            let Ok(request) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for resource in request["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        let mut span = span.clone();
                        span["resource"] = resource["resource"].clone();
                        spans.push(span);
                    }
                }
            }
        }
        spans
    }

    /// The names of the spans of trace `trace_id`.
    pub fn trace(&self, trace_id: &str) -> Vec<String> {
        self.spans()
            .iter()
            .filter(|s| s["traceId"] == trace_id)
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- collector log -----\n{}", self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

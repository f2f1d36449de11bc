//! zen-watcher "pods": local processes started with a rendered Deployment's env and a
//! ServiceAccount kubeconfig (no kubelet runs in the test control plane).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::required_env;

#[derive(Clone, Copy, Debug)]
pub enum Signal {
    Term,
    Kill,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Signal::Term => "-TERM",
            Signal::Kill => "-KILL",
        }
    }
}

/// One running zen-watcher process. Its output goes to a log file, printed when a test fails
/// while the process guard is alive.
pub struct WatcherProcess {
    pub name: String,
    child: Child,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl WatcherProcess {
    /// Starts `ZEN_WATCHER_BIN` with exactly `env` (nothing inherited but PATH and HOME), using
    /// `kubeconfig`. Logs go to `log_dir/<name>.log`.
    pub fn start(
        name: &str,
        env: &[(String, String)],
        kubeconfig: &Path,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let binary = required_env("ZEN_WATCHER_BIN");
        std::fs::create_dir_all(log_dir)?;
        let log_path = log_dir.join(format!("{name}.log"));
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(&binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().with_context(|| format!("starting {binary}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log_path,
            exit: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([signal.flag(), &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(
            status.success(),
            "kill {} {} failed",
            signal.flag(),
            self.child.id()
        );
        Ok(())
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit.
    pub fn stop(&mut self, signal: Signal, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exit {
            return Ok(status);
        }
        self.signal(signal)?;
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit (after a signal sent earlier).
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exit {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exit = Some(status);
                return Ok(status);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a log line contains `needle` (or the process exits), returning the line.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if let Some(status) = self.try_exit()? {
                anyhow::bail!(
                    "{} exited ({status}) before logging {needle:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The webhook and metrics addresses from the "listening" log line (ports may be 0 = free).
    pub fn addresses(&mut self) -> anyhow::Result<(std::net::SocketAddr, std::net::SocketAddr)> {
        let line = self.wait_for_log("\"listening\"", Duration::from_secs(60))?;
        let json: serde_json::Value = serde_json::from_str(&line)?;
        let port = |field: &str| -> anyhow::Result<std::net::SocketAddr> {
            let text = json[field]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no {field} in {line}"))?;
            let bound: std::net::SocketAddr = text.parse()?;
            Ok(std::net::SocketAddr::from(([127, 0, 0, 1], bound.port())))
        };
        Ok((port("webhook")?, port("metrics")?))
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait()?;
        }
        Ok(self.exit)
    }
}

impl Drop for WatcherProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- log of {} ({}) -----\n{}",
                self.name,
                self.log_path.display(),
                self.log()
            );
        }
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

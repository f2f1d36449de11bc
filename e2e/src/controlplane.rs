//! Extra control planes a test owns: for outage tests (stop the apiserver, start it again on
//! the same port with the same data) and for apiserver flags the shared one lacks (audit
//! webhooks, `--allow-privileged=true`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::{required_env, unique_suffix};

pub struct ControlPlane {
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    extra_args: Vec<String>,
    port: u16,
    child: Option<Child>,
    log_path: PathBuf,
}

impl ControlPlane {
    /// Starts a fresh control plane (`ZEN_CONTROLPLANE_BIN`) with `extra_apiserver_args` and
    /// waits until it serves. Data lives under `e2e/.run/extra/<random>`.
    pub fn start(extra_apiserver_args: &[&str]) -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".run/extra");
        let data_dir = root.join(unique_suffix());
        std::fs::create_dir_all(&data_dir)?;
        let mut cp = Self {
            kubeconfig: data_dir.join("kubeconfig"),
            log_path: data_dir.join("controlplane.log"),
            data_dir,
            extra_args: extra_apiserver_args.iter().map(|s| s.to_string()).collect(),
            port: 0,
            child: None,
        };
        cp.launch()?;
        Ok(cp)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let binary = required_env("ZEN_CONTROLPLANE_BIN");
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(&binary)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.kubeconfig.exists() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                anyhow::bail!("control plane exited with {status}:\n{}", self.log());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "control plane not ready after 120 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let port = std::fs::read_to_string(self.data_dir.join("port"))
            .context("control plane wrote no port file")?;
        self.port = port.trim().parse().context("bad port file")?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the control plane (SIGTERM, then SIGKILL after 20 s). Data stays.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        // A frozen process would ignore SIGTERM until thawed.
        let _ = self.thaw();
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                child.kill()?;
                child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Freezes the control plane (SIGSTOP): etcd and the apiserver stop answering but keep
    /// their connections open, as a hung apiserver does.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// Lets a frozen control plane run again (SIGCONT).
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the control plane is not running"))?;
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} {} failed", child.id());
        Ok(())
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.launch()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- control plane log ({}) -----\n{}",
                self.log_path.display(),
                self.log()
            );
        }
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

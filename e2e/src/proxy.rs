//! A TCP proxy in front of the apiserver that a test can cut: while cut, open connections are
//! dropped and new ones are closed at once, as a network partition between one client and the
//! apiserver does (the apiserver itself keeps serving everybody else).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Tells the open connections to drop.
    epoch: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to the apiserver `kubeconfig` names.
    pub async fn to(kubeconfig: &Path) -> anyhow::Result<Self> {
        let server = server_of(kubeconfig)?;
        let addr = server
            .strip_prefix("https://")
            .ok_or_else(|| anyhow::anyhow!("{server} is not https://host:port"))?
            .parse()?;
        Self::start(addr).await
    }

    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let (epoch, _) = watch::channel(0u64);
        let task = tokio::spawn({
            let cut = cut.clone();
            let epoch = epoch.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut dropped = epoch.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = copy_bidirectional(&mut client, &mut server) => {}
                            _ = dropped.changed() => {}
                        }
                    });
                }
            }
        });
        Ok(Self {
            addr,
            cut,
            epoch,
            task,
        })
    }

    /// Cuts the connection: open connections drop, new ones are refused until [`Proxy::mend`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// A copy of `kubeconfig` (in `dir`) whose server is this proxy.
    pub fn kubeconfig(&self, kubeconfig: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
        let text = std::fs::read_to_string(kubeconfig)?;
        let upstream = server_of(kubeconfig)?;
        let through = text.replace(&upstream, &format!("https://{}", self.addr));
        let path = dir.join(format!("kubeconfig-proxy-{}", self.addr.port()));
        std::fs::write(&path, through)?;
        Ok(path)
    }
}

fn server_of(kubeconfig: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(kubeconfig)?
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: ").map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("no server in {}", kubeconfig.display()))
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.epoch.send_modify(|e| *e += 1);
    }
}

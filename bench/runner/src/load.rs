//! POSTing many bodies to a watcher over pooled keep-alive connections, `concurrency` at a
//! time. 503 (write queue full) and 429 are retried after a short pause: the benchmark wants
//! every event accepted, as a webhook sender with retries would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const RETRY_PAUSE: Duration = Duration::from_millis(20);
const MAX_RETRIES: usize = 500;

pub struct Posted {
    pub elapsed: Duration,
    /// Final status of each body (after retries), counted.
    pub statuses: BTreeMap<u16, usize>,
    pub retries: usize,
}

impl Posted {
    pub fn all_2xx(&self) -> bool {
        self.statuses.keys().all(|s| (200..300).contains(s))
    }
}

pub async fn post_all(
    addr: SocketAddr,
    path: &str,
    token: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> anyhow::Result<Posted> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let uri = Arc::new(format!("http://{addr}{path}"));
    let auth = Arc::new(format!("Bearer {token}"));
    let start = Instant::now();
    let results: Vec<anyhow::Result<(u16, usize)>> = futures::stream::iter(bodies)
        .map(|body| {
            let client = client.clone();
            let uri = uri.clone();
            let auth = auth.clone();
            async move {
                let body = Bytes::from(body);
                let mut retries = 0;
                loop {
                    let request = hyper::Request::post(uri.as_str())
                        .header("authorization", auth.as_str())
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))?;
                    let response = client.request(request).await?;
                    let status = response.status().as_u16();
                    response.into_body().collect().await?;
                    if (status == 503 || status == 429) && retries < MAX_RETRIES {
                        retries += 1;
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                    return Ok((status, retries));
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let mut statuses = BTreeMap::new();
    let mut retries = 0;
    for result in results {
        let (status, r) = result?;
        *statuses.entry(status).or_default() += 1;
        retries += r;
    }
    Ok(Posted {
        elapsed,
        statuses,
        retries,
    })
}

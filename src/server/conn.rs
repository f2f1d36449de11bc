//! What the accept loop knows about a connection, put into every request's extensions.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;

#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The client's end-entity certificate, present only when the handshake verified it.
    pub client_cert: Option<Arc<CertificateDer<'static>>>,
    /// Its SAN DNS names and URIs and subject CN (read once per connection).
    pub client_names: Arc<[String]>,
}

impl ConnInfo {
    pub fn plain(remote: SocketAddr) -> Self {
        Self {
            remote,
            client_cert: None,
            client_names: Arc::from(Vec::new()),
        }
    }
}

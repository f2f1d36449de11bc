//! The HTTPS server configuration: a serving certificate re-read when its files change, and
//! with a client CA (also re-read when it changes), client certificates required and verified
//! (mTLS).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::UnixTime;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::file_stamp::{RECHECK, Stamp, stamp};
use crate::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Pem { path: PathBuf, problem: String },
    #[error("serving certificate {} and key {}: {source}", cert.display(), key.display())]
    Key {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("client CA {}: {problem}", path.display())]
    ClientCa { path: PathBuf, problem: String },
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The server configuration for `files` (ALPN h2 and http/1.1).
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(ReloadingCert::load(
        &files.cert_file,
        &files.key_file,
        provider.clone(),
    )?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match &files.client_ca_file {
        Some(ca) => {
            builder.with_client_cert_verifier(Arc::new(ReloadingClientCa::load(ca, provider)?))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let ca_problem = |problem: String| TlsError::ClientCa {
        path: path.to_path_buf(),
        problem,
    };
    let pem = read(path)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ca_problem(e.to_string()))?;
        roots.add(cert).map_err(|e| ca_problem(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_problem("no PEM certificate found".into()));
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| ca_problem(e.to_string()))
}

/// Serves the certificate in its files, re-reading them (at most once per [`RECHECK`]) when
/// they change. A rotation caught half-way keeps the previous certificate until both match.
#[derive(Debug)]
struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    checked: Instant,
    stamps: (Stamp, Stamp),
    current: Arc<CertifiedKey>,
}

impl ReloadingCert {
    fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let stamps = stamps(cert, key)?;
        let current = Arc::new(certified_key(cert, key, &provider)?);
        Ok(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            provider,
            state: Mutex::new(State {
                checked: Instant::now(),
                stamps,
                current,
            }),
        })
    }

    fn refresh(&self, state: &mut State) {
        let reloaded = stamps(&self.cert_path, &self.key_path).and_then(|stamps| {
            if stamps == state.stamps {
                return Ok(None);
            }
            certified_key(&self.cert_path, &self.key_path, &self.provider)
                .map(|key| Some((stamps, key)))
        });
        match reloaded {
            Ok(None) => {}
            Ok(Some((stamps, key))) => {
                tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                state.stamps = stamps;
                state.current = Arc::new(key);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot reload the serving certificate; keeping the current one");
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            self.refresh(&mut state);
        }
        Some(state.current.clone())
    }
}

/// Verifies client certificates against the CA bundle in its file, re-read (at most once per
/// [`RECHECK`]) when it changes; an unreadable or invalid new bundle keeps the previous one.
/// It sends no CA names in its certificate request (the bundle can change between handshakes);
/// clients offer the certificate they have.
#[derive(Debug)]
struct ReloadingClientCa {
    path: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<CaState>,
}

#[derive(Debug)]
struct CaState {
    checked: Instant,
    stamp: Stamp,
    current: Arc<dyn ClientCertVerifier>,
}

impl ReloadingClientCa {
    fn load(path: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let stamp = stamp(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let current = client_verifier(path, provider.clone())?;
        Ok(Self {
            path: path.to_path_buf(),
            provider,
            state: Mutex::new(CaState {
                checked: Instant::now(),
                stamp,
                current,
            }),
        })
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            match stamp(&self.path) {
                Ok(stamp) if stamp != state.stamp => {
                    match client_verifier(&self.path, self.provider.clone()) {
                        Ok(verifier) => {
                            tracing::info!(ca = %self.path.display(), "client CA reloaded");
                            state.stamp = stamp;
                            state.current = verifier;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot reload the client CA; keeping the current one");
                        }
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(ca = %self.path.display(), error = %err, "cannot read the client CA; keeping the current one");
                }
            }
        }
        state.current.clone()
    }
}

impl ClientCertVerifier for ReloadingClientCa {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

fn stamps(cert: &Path, key: &Path) -> Result<(Stamp, Stamp), TlsError> {
    let one = |path: &Path| {
        stamp(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((one(cert)?, one(key)?))
}

fn certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem_problem = |path: &Path, problem: String| TlsError::Pem {
        path: path.to_path_buf(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&read(cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_problem(cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_problem(cert_path, "no PEM certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?)
        .map_err(|e| pem_problem(key_path, e.to_string()))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|source| TlsError::Key {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

//! Who may call the webhooks: a bearer token (static or from a file), a CIDR allowlist, a
//! verified client certificate, or an Ingester's own bearer/basic credentials.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client_addr::client_ip;
use super::client_names::{AllowedClients, WebhookKind};
use super::conn::ConnInfo;
use super::routes::IngesterAuth;
use super::token_file::TokenFile;
use crate::config::Config;

pub const BEARER_CHALLENGE: &str = "Bearer";
pub const BASIC_CHALLENGE: &str = "Basic realm=\"zen-watcher\"";

/// The global bearer token.
#[derive(Debug)]
enum Token {
    Static(String),
    File(TokenFile),
}

impl Token {
    fn matches(&self, presented: &str) -> bool {
        match self {
            Token::Static(token) => same(presented, token),
            Token::File(file) => file.with_token(|token| token.is_some_and(|t| same(presented, t))),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No webhook authentication is configured at all (401).
    NotConfigured,
    /// Missing or wrong credentials (401 with this `WWW-Authenticate` challenge).
    Credentials { challenge: &'static str },
    /// The client address is not in `WEBHOOK_ALLOWED_IPS` (403).
    Address { client: Option<IpAddr> },
    /// A verified client certificate whose names this endpoint does not accept
    /// (`WEBHOOK_TLS_CLIENT_NAMES_*`), and no other credentials (403).
    Certificate { kind: WebhookKind },
}

#[derive(Debug)]
pub struct Auth {
    token: Option<Token>,
    allowed_ips: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    client_certs: bool,
    allowed_clients: AllowedClients,
}

impl Auth {
    /// Reads the token file once, so a missing file fails start-up.
    pub fn from_config(config: &Config) -> std::io::Result<Self> {
        let token = match (&config.webhook_auth_token, &config.webhook_auth_token_file) {
            (Some(token), _) => Some(Token::Static(token.clone())),
            (None, Some(path)) => Some(Token::File(TokenFile::open(path)?)),
            (None, None) => None,
        };
        Ok(Self {
            token,
            allowed_ips: config.webhook_allowed_ips.clone(),
            trusted_proxies: config.trusted_proxy_cidrs.clone(),
            client_certs: config
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca_file.is_some()),
            allowed_clients: AllowedClients {
                falco: config.tls_client_names.falco.clone(),
                audit: config.tls_client_names.audit.clone(),
                ingesters: config.tls_client_names.ingesters.clone(),
            },
        })
    }

    /// Decides one webhook request. The allowlist always applies when set; the route's own
    /// credentials replace the global token and client certificate.
    pub fn check(
        &self,
        conn: Option<&ConnInfo>,
        headers: &HeaderMap,
        route: &IngesterAuth,
        kind: WebhookKind,
    ) -> Result<(), Denial> {
        if *route == IngesterAuth::None
            && self.token.is_none()
            && self.allowed_ips.is_empty()
            && !self.client_certs
        {
            return Err(Denial::NotConfigured);
        }
        if !self.allowed_ips.is_empty() {
            let client =
                conn.and_then(|c| client_ip(c.remote.ip(), headers, &self.trusted_proxies));
            if !client.is_some_and(|ip| self.allowed_ips.iter().any(|net| net.contains(&ip))) {
                return Err(Denial::Address { client });
            }
        }
        match route {
            IngesterAuth::Bearer(expected) => bearer(headers)
                .is_some_and(|t| same(t, expected))
                .then_some(())
                .ok_or(Denial::Credentials {
                    challenge: BEARER_CHALLENGE,
                }),
            IngesterAuth::Basic { user, password } => basic(headers)
                .is_some_and(|(u, p)| same(&u, user) & same(&p, password))
                .then_some(())
                .ok_or(Denial::Credentials {
                    challenge: BASIC_CHALLENGE,
                }),
            IngesterAuth::None => self.check_global(conn, headers, kind),
        }
    }

    fn check_global(
        &self,
        conn: Option<&ConnInfo>,
        headers: &HeaderMap,
        kind: WebhookKind,
    ) -> Result<(), Denial> {
        // The handshake already verified it against WEBHOOK_TLS_CLIENT_CA_FILE; its names
        // decide which endpoints it may call.
        let certificate = conn.filter(|c| c.client_cert.is_some());
        if let Some(conn) = certificate
            && self.allowed_clients.allows(kind, &conn.client_names)
        {
            return Ok(());
        }
        let denied = if certificate.is_some() {
            Denial::Certificate { kind }
        } else {
            Denial::Credentials {
                challenge: BEARER_CHALLENGE,
            }
        };
        match &self.token {
            Some(token) => bearer(headers)
                .is_some_and(|t| token.matches(t))
                .then_some(())
                .ok_or(denied),
            // A certificate this endpoint refused is not made good by the address.
            None if certificate.is_some() => Err(denied),
            // The allowlist, checked above, is the whole auth.
            None if !self.allowed_ips.is_empty() => Ok(()),
            None => Err(denied),
        }
    }
}

/// Compares digests so neither content nor length leaks through timing.
fn same(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    credentials(headers, "Bearer").filter(|t| !t.is_empty())
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let decoded = STANDARD.decode(credentials(headers, "Basic")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

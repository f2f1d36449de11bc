//! Which verified client certificates may call which webhook (`WEBHOOK_TLS_CLIENT_NAMES_*`):
//! a certificate's names are its SAN DNS names and URIs and its subject CN; an endpoint with a
//! list accepts only certificates carrying one of its names, an endpoint without one any
//! certificate the client CA verified. Pure, except for reading the certificate's DER.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The webhook endpoints, as far as client identities go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    Falco,
    Audit,
    /// Any Ingester path that uses the global auth.
    Ingester,
}

/// Allowed client names per endpoint; an empty list allows every verified certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedClients {
    pub falco: Vec<String>,
    pub audit: Vec<String>,
    pub ingesters: Vec<String>,
}

impl AllowedClients {
    /// Whether a certificate with `names` may call `kind`.
    pub fn allows(&self, kind: WebhookKind, names: &[String]) -> bool {
        let allowed = match kind {
            WebhookKind::Falco => &self.falco,
            WebhookKind::Audit => &self.audit,
            WebhookKind::Ingester => &self.ingesters,
        };
        allowed.is_empty()
            || allowed
                .iter()
                .any(|want| names.iter().any(|name| same_name(want, name)))
    }
}

/// URIs (SPIFFE ids and the like) compare exactly; DNS names and CNs without case.
fn same_name(want: &str, name: &str) -> bool {
    if want.contains("://") {
        want == name
    } else {
        want.eq_ignore_ascii_case(name)
    }
}

/// The SAN DNS names and URIs, then the subject CNs, of a DER certificate; none when it cannot
/// be read (it was verified by rustls already, so that would be a parser gap, not an attack).
pub fn names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::URI(uri) => names.push(uri.to_string()),
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(text) = cn.as_str() {
            names.push(text.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests;

//! Per-path webhook credentials from Secrets (pure): `bearer` reads the key `token`, `basic`
//! the keys `username` and `password`, from the Secret `secretName` in the Ingester's
//! namespace. Anything missing means no route: a path is never served open by mistake.

use std::collections::BTreeMap;
use std::fmt;

use crate::crd::{WebhookAuth, WebhookAuthType};
use crate::server::IngesterAuth;

pub const TOKEN_KEY: &str = "token";
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";

/// A Secret by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The last read of a Secret.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretLookup {
    Found(BTreeMap<String, Vec<u8>>),
    Missing,
    /// Could not be read (e.g. forbidden); the text says why.
    Unreadable(String),
}

impl fmt::Debug for SecretLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretLookup::Found(data) => write!(f, "Found(keys: {:?})", data.keys()),
            SecretLookup::Missing => f.write_str("Missing"),
            SecretLookup::Unreadable(why) => write!(f, "Unreadable({why:?})"),
        }
    }
}

/// Every Secret read so far; one not in here counts as missing.
pub type Secrets = BTreeMap<SecretRef, SecretLookup>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("webhook auth {kind} needs spec.webhook.auth.secretName")]
    NoSecretName { kind: &'static str },
    #[error("Secret {secret} (key {key:?}) not found")]
    SecretMissing {
        secret: SecretRef,
        key: &'static str,
    },
    #[error("Secret {secret} has no non-empty key {key:?}")]
    KeyMissing {
        secret: SecretRef,
        key: &'static str,
    },
    #[error("Secret {secret} key {key:?} is not UTF-8")]
    NotUtf8 {
        secret: SecretRef,
        key: &'static str,
    },
    #[error("Secret {secret} (key {key:?}) could not be read: {why}")]
    Unreadable {
        secret: SecretRef,
        key: &'static str,
        why: String,
    },
}

/// The Secret an Ingester's webhook auth needs, if any.
pub fn secret_ref(namespace: &str, auth: Option<&WebhookAuth>) -> Option<SecretRef> {
    let auth = auth?;
    if auth.type_ == WebhookAuthType::None {
        return None;
    }
    let name = auth.secret_name.as_deref().filter(|n| !n.is_empty())?;
    Some(SecretRef {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// The credentials of a webhook Ingester in `namespace`.
pub fn resolve_auth(
    namespace: &str,
    auth: Option<&WebhookAuth>,
    secrets: &Secrets,
) -> Result<IngesterAuth, AuthError> {
    let kind = match auth.map(|a| a.type_) {
        None | Some(WebhookAuthType::None) => return Ok(IngesterAuth::None),
        Some(WebhookAuthType::Bearer) => "bearer",
        Some(WebhookAuthType::Basic) => "basic",
    };
    let secret = secret_ref(namespace, auth).ok_or(AuthError::NoSecretName { kind })?;
    let first_key = if kind == "bearer" {
        TOKEN_KEY
    } else {
        USERNAME_KEY
    };
    let data = match secrets.get(&secret) {
        Some(SecretLookup::Found(data)) => data,
        Some(SecretLookup::Unreadable(why)) => {
            return Err(AuthError::Unreadable {
                secret,
                key: first_key,
                why: why.clone(),
            });
        }
        None | Some(SecretLookup::Missing) => {
            return Err(AuthError::SecretMissing {
                secret,
                key: first_key,
            });
        }
    };
    if kind == "bearer" {
        Ok(IngesterAuth::Bearer(value(&secret, data, TOKEN_KEY)?))
    } else {
        Ok(IngesterAuth::Basic {
            user: value(&secret, data, USERNAME_KEY)?,
            password: value(&secret, data, PASSWORD_KEY)?,
        })
    }
}

/// The text at `key`, without the line ending `kubectl create secret --from-file` keeps.
fn value(
    secret: &SecretRef,
    data: &BTreeMap<String, Vec<u8>>,
    key: &'static str,
) -> Result<String, AuthError> {
    let missing = || AuthError::KeyMissing {
        secret: secret.clone(),
        key,
    };
    let bytes = data.get(key).ok_or_else(missing)?;
    let text = std::str::from_utf8(bytes).map_err(|_| AuthError::NotUtf8 {
        secret: secret.clone(),
        key,
    })?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(missing());
    }
    Ok(text.to_string())
}

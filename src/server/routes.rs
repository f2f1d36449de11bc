//! The run-time table of Ingester webhook paths. One catch-all filter looks requests up here,
//! so Ingesters are added, changed and removed without restarting the server.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::admission::IngesterRules;
use crate::crd::RESERVED_PATHS;
use crate::sources::generic::GenericMapping;

/// Credentials an Ingester requires on its path, already resolved from its Secret.
#[derive(Clone, PartialEq, Eq)]
pub enum IngesterAuth {
    /// `type: none`: the global webhook auth applies.
    None,
    Bearer(String),
    Basic {
        user: String,
        password: String,
    },
}

impl fmt::Debug for IngesterAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngesterAuth::None => f.write_str("None"),
            IngesterAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            IngesterAuth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?} }}"),
        }
    }
}

/// Everything a request on an Ingester's path needs.
#[derive(Clone, Debug)]
pub struct IngesterRoute {
    pub namespace: String,
    pub name: String,
    pub mapping: GenericMapping,
    pub rules: IngesterRules,
    pub auth: IngesterAuth,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("webhook path {0:?} is reserved by zen-watcher")]
    Reserved(String),
    #[error("webhook path {0:?} must start with '/'")]
    NotAbsolute(String),
}

/// Shared handle: clones see the same routes.
#[derive(Clone, Default)]
pub struct RouteTable {
    routes: Arc<RwLock<HashMap<String, Arc<IngesterRoute>>>>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the route of `path` (the path only, no query string).
    pub fn set(&self, path: &str, route: IngesterRoute) -> Result<(), RouteError> {
        if !path.starts_with('/') {
            return Err(RouteError::NotAbsolute(path.to_string()));
        }
        if RESERVED_PATHS.contains(&path) {
            return Err(RouteError::Reserved(path.to_string()));
        }
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_string(), Arc::new(route));
        Ok(())
    }

    /// Removes the route of `path`; returns whether there was one.
    pub fn remove(&self, path: &str) -> bool {
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path)
            .is_some()
    }

    pub fn get(&self, path: &str) -> Option<Arc<IngesterRoute>> {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }

    /// The paths currently served, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        paths.sort();
        paths
    }
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("paths", &self.paths())
            .finish()
    }
}

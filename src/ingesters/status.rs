//! What an Ingester's `status` should say (pure): its `Ready` condition, state and last error,
//! and whether that differs from what is stored.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::crd::{IngesterState, IngesterStatus};

/// The condition type this module owns.
pub const READY: &str = "Ready";

/// The `reason` of the `Ready` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A webhook path is served.
    Routed,
    /// An informer watch is running.
    Watching,
    /// The informer watch is being set up (or discovery failed for a reason that may pass).
    Starting,
    PathConflict,
    ReservedPath,
    SecretMissing,
    InvalidSpec,
    ApiNotServed,
    Forbidden,
    NotAllowedNamespace,
    /// `spec.source` names a built-in source.
    ReservedSource,
    /// An informer on a resource no Ingester may watch (Secrets, token reviews, our own kinds).
    ForbiddenResource,
    /// A tenant's webhook path outside `/ingest/<namespace>/`.
    PathOutsideNamespace,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Routed => "Routed",
            Reason::Watching => "Watching",
            Reason::Starting => "Starting",
            Reason::PathConflict => "PathConflict",
            Reason::ReservedPath => "ReservedPath",
            Reason::SecretMissing => "SecretMissing",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::ApiNotServed => "APINotServed",
            Reason::Forbidden => "Forbidden",
            Reason::NotAllowedNamespace => "NotAllowedNamespace",
            Reason::ReservedSource => "ReservedSource",
            Reason::ForbiddenResource => "ForbiddenResource",
            Reason::PathOutsideNamespace => "PathOutsideNamespace",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the orchestrator concluded about one Ingester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyCondition {
    pub state: IngesterState,
    pub reason: Reason,
    pub message: String,
}

impl ReadyCondition {
    pub fn active(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(IngesterState::Active, reason, message)
    }

    pub fn pending(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(IngesterState::Pending, reason, message)
    }

    pub fn error(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(IngesterState::Error, reason, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(IngesterState::Conflict, Reason::PathConflict, message)
    }

    fn new(state: IngesterState, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            state,
            reason,
            message: message.into(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == IngesterState::Active
    }

    /// `lastError`: the message of an Error or Conflict.
    fn last_error(&self) -> Option<String> {
        matches!(self.state, IngesterState::Error | IngesterState::Conflict)
            .then(|| self.message.clone())
    }
}

/// The `Ready` condition for `readiness`; `lastTransitionTime` is kept from `previous` unless
/// the condition's status flips.
pub fn ready_condition(
    previous: Option<&Condition>,
    readiness: &ReadyCondition,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if readiness.is_ready() {
        "True"
    } else {
        "False"
    };
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(whole_seconds(now)),
    };
    Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: readiness.reason.as_str().to_string(),
        message: readiness.message.clone(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The whole status for `readiness`, keeping other conditions and `lastEventAt` of `current`.
pub fn desired_status(
    current: &IngesterStatus,
    readiness: &ReadyCondition,
    generation: Option<i64>,
    now: Timestamp,
) -> IngesterStatus {
    let previous = current.conditions.iter().find(|c| c.type_ == READY);
    let mut conditions: Vec<Condition> = current
        .conditions
        .iter()
        .filter(|c| c.type_ != READY)
        .cloned()
        .collect();
    conditions.push(ready_condition(previous, readiness, generation, now));
    IngesterStatus {
        observed_generation: generation,
        conditions,
        state: Some(readiness.state),
        last_error: readiness.last_error(),
        last_event_at: current.last_event_at.clone(),
    }
}

/// The status to write, or `None` when nothing changed. `last_written` is what this leader
/// wrote last for the same object, which the Ingester watch may not have brought back yet:
/// comparing against it too keeps a lagging watch from causing a second write.
pub fn next_status(
    current: &IngesterStatus,
    last_written: Option<&IngesterStatus>,
    readiness: &ReadyCondition,
    generation: Option<i64>,
    now: Timestamp,
) -> Option<IngesterStatus> {
    let base = last_written.unwrap_or(current);
    let desired = desired_status(base, readiness, generation, now);
    (desired != *base && desired != *current).then_some(desired)
}

/// The merge patch of the status subresource writing `status`; a cleared `lastError` is
/// written as null so the merge removes it.
pub fn status_patch(status: &IngesterStatus) -> Value {
    let mut body = json!(status);
    if status.last_error.is_none()
        && let Value::Object(map) = &mut body
    {
        map.insert("lastError".into(), Value::Null);
    }
    json!({ "status": body })
}

fn whole_seconds(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

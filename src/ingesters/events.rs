//! Kubernetes Events on Ingesters, so `kubectl describe ingester` tells what the watcher made
//! of each change: accepted, refused, or changed while staying Ready. Which Event a status
//! write deserves is decided purely ([`ready_event`]); the leader publishes it after the write.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::plan::{IngesterKey, Revision};
use super::status::READY;
use crate::crd::IngesterStatus;

/// The Event for a status going from `before` (as read) to `after` (as written), if any.
pub fn ready_event(before: &IngesterStatus, after: &IngesterStatus) -> Option<Event> {
    let ready = |status: &IngesterStatus| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == READY)
            .map(|c| (c.status == "True", c.reason.clone(), c.message.clone()))
    };
    let (now_ready, reason, message) = ready(after)?;
    let was = ready(before);
    let (type_, action) = match (&was, now_ready) {
        (Some((true, _, _)), true) if before.observed_generation == after.observed_generation => {
            return None;
        }
        (Some((true, _, _)), true) => (EventType::Normal, "Changed"),
        (_, true) => (EventType::Normal, "Accepted"),
        (Some((false, was_reason, was_message)), false)
            if *was_reason == reason && *was_message == message =>
        {
            return None;
        }
        (_, false) => (EventType::Warning, "Refused"),
    };
    Some(Event {
        type_,
        reason,
        note: Some(message),
        action: action.into(),
        secondary: None,
    })
}

/// Publishes Ingester Events as the watcher instance `identity`.
pub struct IngesterEvents {
    recorder: Recorder,
}

impl IngesterEvents {
    pub fn new(client: Client, identity: &str) -> Self {
        let reporter = Reporter {
            controller: "zen-watcher".into(),
            instance: Some(identity.to_string()),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Best effort: an Event that cannot be written is logged, never retried.
    pub async fn publish(&self, key: &IngesterKey, revision: &Revision, event: &Event) {
        let reference = ObjectReference {
            api_version: Some("zen.kube-zen.io/v1alpha1".into()),
            kind: Some("Ingester".into()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: Some(revision.uid.clone()),
            ..ObjectReference::default()
        };
        if let Err(err) = self.recorder.publish(event, &reference).await {
            tracing::warn!(ingester = %key, error = %err, "recording an Ingester Event failed");
        }
    }
}

#[cfg(test)]
mod tests;

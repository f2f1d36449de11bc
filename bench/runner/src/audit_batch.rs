//! One audit EventList of (almost) a given size, as the apiserver's webhook backend sends it at
//! Request level: mostly Pod creations carrying their object (read by the privileged-pod rule,
//! not privileged, so no Observation), one Secret read in a hundred (an Observation each).

use serde_json::{Value, json};

/// Items whose `requestObject` carries this much data (in an env value).
const DATA_BYTES: usize = 6 * 1024;
const SECRET_READ_EVERY: usize = 100;

pub struct AuditBatch {
    pub body: Vec<u8>,
    pub items: usize,
    pub secret_reads: usize,
}

/// An EventList of at most `max_bytes` bytes, filled to within one item of it.
pub fn event_list(namespace: &str, max_bytes: usize) -> anyhow::Result<AuditBatch> {
    let data = "x".repeat(DATA_BYTES);
    let mut items: Vec<Value> = Vec::new();
    let mut size = 64; // the envelope
    let mut secret_reads = 0;
    loop {
        let i = items.len();
        let secret_read = i.is_multiple_of(SECRET_READ_EVERY);
        let item = if secret_read {
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                   "auditID": format!("mem-{i}"), "stage": "ResponseComplete", "verb": "get",
                   "user": {"username": "reader"},
                   "objectRef": {"resource": "secrets", "namespace": namespace,
                                 "name": format!("s-{i}"), "apiVersion": "v1"},
                   "responseStatus": {"code": 200},
                   "stageTimestamp": "2026-12-01T10:00:00.5Z"})
        } else {
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
                   "auditID": format!("mem-{i}"), "stage": "ResponseComplete", "verb": "create",
                   "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                   "objectRef": {"resource": "pods", "namespace": namespace,
                                 "name": format!("web-{i}"), "apiVersion": "v1"},
                   "requestObject": {"kind": "Pod", "apiVersion": "v1",
                                     "metadata": {"name": format!("web-{i}"), "namespace": namespace},
                                     "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                              "securityContext": {"privileged": false},
                                              "env": [{"name": "PAYLOAD", "value": data}]}]}},
                   "responseStatus": {"code": 201},
                   "stageTimestamp": "2026-12-01T10:00:00.5Z"})
        };
        let len = serde_json::to_vec(&item)?.len() + 1;
        if size + len > max_bytes {
            break;
        }
        size += len;
        secret_reads += usize::from(secret_read);
        items.push(item);
    }
    let body = serde_json::to_vec(
        &json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}),
    )?;
    Ok(AuditBatch {
        items: items.len(),
        body,
        secret_reads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_size_and_reads_as_the_watcher_does() {
        let max = 256 * 1024;
        let batch = event_list("ns", max).unwrap();
        assert!(batch.body.len() <= max, "{} > {max}", batch.body.len());
        assert!(
            batch.body.len() > max - 2 * DATA_BYTES,
            "{}",
            batch.body.len()
        );
        let parsed = zen_watcher::sources::audit::parse(&batch.body, &Default::default()).unwrap();
        assert_eq!(parsed.events.len(), batch.secret_reads);
        assert_eq!(batch.secret_reads, batch.items.div_ceil(SECRET_READ_EVERY));
    }
}

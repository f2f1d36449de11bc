//! API discovery: whether the apiserver serves a group/version/resource, and how to list and
//! watch it. Used by the report informers and the informer Ingesters.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::core::ApiResource;

use crate::crd::Gvr;

/// How often an API that is not served (yet) is looked for again.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30);

/// What discovery says about a GVR.
#[derive(Clone, Debug, PartialEq)]
pub enum Discovered {
    NotServed,
    /// Served, but without `list` and `watch`.
    NotWatchable,
    Found {
        resource: ApiResource,
        namespaced: bool,
    },
}

/// Finds `gvr` in its group version's resource list.
pub fn find_resource(list: &APIResourceList, gvr: &Gvr) -> Discovered {
    let Some(found) = list.resources.iter().find(|r| r.name == gvr.resource) else {
        return Discovered::NotServed;
    };
    let can = |verb: &str| found.verbs.iter().any(|v| v == verb);
    if !(can("list") && can("watch")) {
        return Discovered::NotWatchable;
    }
    let api_version = if gvr.group.is_empty() {
        gvr.version.clone()
    } else {
        format!("{}/{}", gvr.group, gvr.version)
    };
    Discovered::Found {
        resource: ApiResource {
            group: gvr.group.clone(),
            version: gvr.version.clone(),
            api_version,
            kind: found.kind.clone(),
            plural: found.name.clone(),
        },
        namespaced: found.namespaced,
    }
}

/// Looks `gvr` up in its group version (a 404 for the group version means not served).
pub async fn discover(client: &Client, gvr: &Gvr) -> Result<Discovered, kube::Error> {
    let listed = if gvr.group.is_empty() {
        client.list_core_api_resources(&gvr.version).await
    } else {
        client
            .list_api_group_resources(&format!("{}/{}", gvr.group, gvr.version))
            .await
    };
    match listed {
        Ok(list) => Ok(find_resource(&list, gvr)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Discovered::NotServed),
        Err(err) => Err(err),
    }
}

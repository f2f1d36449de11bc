//! RBAC is really enforced: a ServiceAccount bound only to a Role on Leases can work its
//! Lease and is Forbidden to read Secrets.

use std::path::Path;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use zen_watcher_e2e::{
    TestNamespace, admin_client, admin_kubeconfig_path, client_from_kubeconfig,
    kubeconfig_for_token, mint_token,
};

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn lease_role_allows_leases_and_forbids_secrets() {
    let admin = admin_client().await.unwrap();
    let ns = TestNamespace::create(&admin, "rbac").await.unwrap();
    let pp = PostParams::default();
    ns.api::<ServiceAccount>()
        .create(
            &pp,
            &ServiceAccount {
                metadata: meta("elector"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let role = Role {
        metadata: meta("leases"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".into()]),
            resources: Some(vec!["leases".into()]),
            verbs: ["get", "list", "watch", "create", "update", "patch"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        }]),
    };
    ns.api::<Role>().create(&pp, &role).await.unwrap();
    let binding = RoleBinding {
        metadata: meta("leases"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "leases".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "elector".into(),
            namespace: Some(ns.name.clone()),
            ..Default::default()
        }]),
    };
    ns.api::<RoleBinding>().create(&pp, &binding).await.unwrap();
    ns.api::<Secret>()
        .create(
            &pp,
            &Secret {
                metadata: meta("hidden"),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let token = mint_token(&admin, &ns.name, "elector").await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".run/kubeconfigs");
    let path = kubeconfig_for_token(
        &admin_kubeconfig_path(),
        &token,
        &dir,
        &format!("{}.yaml", ns.name),
    )
    .unwrap();
    let sa = client_from_kubeconfig(&path).await.unwrap();

    let leases: Api<Lease> = Api::namespaced(sa.clone(), &ns.name);
    let lease = Lease {
        metadata: meta("zen-watcher-leader-election"),
        spec: Some(LeaseSpec {
            holder_identity: Some("zen-0".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let mut created = leases.create(&pp, &lease).await.unwrap();
    created.spec.as_mut().unwrap().holder_identity = Some("zen-1".into());
    let replaced = leases
        .replace("zen-watcher-leader-election", &pp, &created)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.unwrap().holder_identity.as_deref(),
        Some("zen-1")
    );

    let secrets: Api<Secret> = Api::namespaced(sa.clone(), &ns.name);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing Secrets should be Forbidden, got {other:?}"),
    }
    match secrets.get("hidden").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("reading a Secret should be Forbidden, got {other:?}"),
    }
    // A Lease in another namespace is out of the Role's reach too.
    let elsewhere: Api<Lease> = Api::namespaced(sa, "default");
    assert!(
        matches!(elsewhere.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 403)
    );
}

use super::*;

fn gvr(group: &str, resource: &str) -> Gvr {
    Gvr {
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
    }
}

#[test]
fn built_in_source_names_are_reserved_in_any_spelling() {
    for name in ["falco", "audit", "kyverno", "trivy", "Falco", " trivy "] {
        assert!(
            matches!(check_source(name), Err(Refusal::ReservedSource { .. })),
            "{name}"
        );
    }
    for name in ["falco2", "my-audit", "argo"] {
        assert_eq!(check_source(name), Ok(()), "{name}");
    }
}

#[test]
fn credentials_and_own_kinds_cannot_be_watched() {
    for (group, resource) in [
        ("", "secrets"),
        ("", "Secrets"),
        ("", " secrets"),
        ("", "serviceaccounts/token"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("Authorization.k8s.io", "localsubjectaccessreviews"),
        ("zen.kube-zen.io", "observations"),
        ("zen.kube-zen.io", "ingesters"),
        ("zen.kube-zen.io", "anything-new"),
    ] {
        assert!(
            matches!(
                check_gvr(&gvr(group, resource)),
                Err(Refusal::ForbiddenResource { .. })
            ),
            "{group}/{resource}"
        );
    }
    for (group, resource) in [
        ("", "configmaps"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("example.com", "secrets"),
    ] {
        assert_eq!(
            check_gvr(&gvr(group, resource)),
            Ok(()),
            "{group}/{resource}"
        );
    }
}

#[test]
fn a_refusal_names_the_resource() {
    let err = check_gvr(&gvr("", "secrets")).unwrap_err().to_string();
    assert!(err.starts_with("secrets may not be watched"), "{err}");
    let err = check_gvr(&gvr("zen.kube-zen.io", "observations"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("observations.zen.kube-zen.io"), "{err}");
}

#[test]
fn tenant_paths_live_under_their_namespace() {
    assert_eq!(check_tenant_path("team-a", "/ingest/team-a/argo"), Ok(()));
    assert_eq!(
        check_tenant_path("team-a", "/ingest/team-a/ci/github"),
        Ok(())
    );
    for path in [
        "/hooks/argo",
        "/ingest/team-b/argo",
        "/ingest/team-a/",
        "/ingest/team-a",
        "/ingest/team-ab/argo",
        "/ingest/team-a/../team-b/argo",
        "/ingest/team-a/./x",
    ] {
        let err = check_tenant_path("team-a", path).unwrap_err();
        assert!(
            err.to_string().contains("under /ingest/team-a/"),
            "{path}: {err}"
        );
    }
}

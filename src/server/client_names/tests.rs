use super::*;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};

fn cert(cn: &str, dns: &[&str], uris: &[&str]) -> Vec<u8> {
    let mut params =
        CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
    for uri in uris {
        params
            .subject_alt_names
            .push(SanType::URI(uri.to_string().try_into().unwrap()));
    }
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn names_are_the_sans_and_the_cn() {
    let der = cert(
        "falcosidekick",
        &["sidekick.falco.svc"],
        &["spiffe://cluster.local/ns/falco/sa/sidekick"],
    );
    assert_eq!(
        names(&der),
        [
            "sidekick.falco.svc",
            "spiffe://cluster.local/ns/falco/sa/sidekick",
            "falcosidekick"
        ]
    );
    assert!(names(b"not a certificate").is_empty());
}

#[test]
fn each_endpoint_allows_only_its_names() {
    let allowed = AllowedClients {
        falco: vec!["Sidekick.Falco.svc".into()],
        audit: vec!["spiffe://cluster.local/ns/kube-system/sa/apiserver".into()],
        ingesters: vec![],
    };
    let sidekick = vec!["sidekick.falco.svc".to_string()];
    let apiserver = vec!["spiffe://cluster.local/ns/kube-system/sa/apiserver".to_string()];
    assert!(
        allowed.allows(WebhookKind::Falco, &sidekick),
        "DNS without case"
    );
    assert!(!allowed.allows(WebhookKind::Audit, &sidekick));
    assert!(allowed.allows(WebhookKind::Audit, &apiserver));
    assert!(!allowed.allows(WebhookKind::Falco, &apiserver));
    let shouting = vec!["SPIFFE://cluster.local/ns/kube-system/sa/apiserver".to_string()];
    assert!(
        !allowed.allows(WebhookKind::Audit, &shouting),
        "URIs exactly"
    );
    assert!(
        allowed.allows(WebhookKind::Ingester, &[]),
        "no list: any certificate"
    );
}

use super::*;

#[test]
fn an_ingester_is_named_namespace_slash_name_and_nothing_without_one() {
    let ingester = IngesterRef::new("shop", "argo");
    assert_eq!(IngesterName(Some(&ingester)).to_string(), "shop/argo");
    assert_eq!(IngesterName(None).to_string(), "");
}

use super::*;

#[test]
fn empty_strings_are_not_given() {
    assert_eq!(non_empty(None), None);
    assert_eq!(non_empty(Some("")), None);
    assert_eq!(non_empty(Some(" ")), Some(" "));
    assert_eq!(non_empty(Some("shop")), Some("shop"));

    let mut map = Map::new();
    for (key, value) in [("none", None), ("empty", Some("")), ("blank", Some(" "))] {
        insert_text(&mut map, key, value);
    }
    insert_text(&mut map, "name", Some("web-1"));
    assert_eq!(
        Value::Object(map),
        serde_json::json!({"blank": " ", "name": "web-1"})
    );
}

use super::ast::{FieldRef, Operand};
use super::eval::Val;
use super::*;
use crate::crd::{Category, Severity};
use proptest::prelude::*;
use serde_json::{Value, json};

fn event() -> Event {
    let details = json!({
        "rule": "Terminal shell in container",
        "priority": "Warning",
        "count": 7,
        "score": "8.5",
        "flag": true,
        "nothing": null,
        "output_fields": {"k8s.pod.name": "web-1", "user.name": "root"},
        "tags": ["mitre", "shell"],
    });
    let mut e = Event::about_pod_for_tests("falco", Severity::High, details);
    e.title = Some("Shell spawned".into());
    e.facts.rule = Some("Terminal shell in container".into());
    e
}

fn eval(text: &str) -> bool {
    match Expression::parse(text) {
        Ok(e) => e.matches(&event()),
        Err(err) => panic!("{text:?} does not parse: {err}"),
    }
}

fn error(text: &str) -> String {
    match Expression::parse(text) {
        Ok(e) => panic!("{text:?} parsed: {e:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn equality_and_inequality() {
    assert!(eval(r#"source = "falco""#));
    assert!(eval(r#"source == "FALCO""#));
    assert!(eval(r#"namespace != "dev""#));
    assert!(!eval(r#"namespace != "Shop""#));
    assert!(eval(r#""shop" = namespace"#));
    assert!(
        !eval("kind = pod"),
        "a bare identifier is a field path, here missing"
    );
    assert!(!eval(r#"kind = "pods""#));
    assert!(eval("details.flag = true"));
    assert!(eval("details.flag != false"));
    assert!(eval("namespace = metadata.namespace"));
}

#[test]
fn numbers_compare_numerically() {
    assert!(eval("details.count = 7"));
    assert!(eval("details.count = 7.0"));
    assert!(eval(r#"details.count = "7""#));
    assert!(eval("details.count > 6.5"));
    assert!(eval("details.count >= 7"));
    assert!(
        eval("details.count < 10"),
        "10 < 7 lexicographically, not numerically"
    );
    assert!(eval("details.count <= 7"));
    assert!(!eval("details.count < 7"));
    assert!(
        eval("details.score > 8"),
        "numeric strings compare as numbers"
    );
    assert!(eval("details.count > -1"));
    assert!(!eval(r#"details.count = "seven""#));
}

#[test]
fn severities_order_by_rank() {
    assert!(eval(r#"severity >= "high""#));
    assert!(eval(r#"severity >= "HIGH""#));
    assert!(eval(r#"severity > "medium""#));
    assert!(!eval(r#"severity > "high""#));
    assert!(!eval(r#"severity >= "critical""#));
    assert!(eval(r#"severity < "critical""#));
    assert!(eval(r#"severity <= 'high'"#));
    assert!(eval(r#""info" < severity"#));
}

#[test]
fn other_strings_order_lexicographically_ignoring_case() {
    assert!(eval(r#"namespace > "alpha""#));
    assert!(eval(r#"namespace < "ZOO""#));
    assert!(eval(r#"namespace >= "shop""#));
    assert!(
        eval(r#"details.output_fields.user.name > 5"#),
        "\"root\" > \"5\""
    );
}

#[test]
fn string_matching_ignores_case() {
    assert!(eval(r#"rule CONTAINS "SHELL""#));
    assert!(eval(r#"rule contains """#));
    assert!(!eval(r#"rule CONTAINS "bash""#));
    assert!(eval(r#"rule STARTS_WITH "terminal""#));
    assert!(!eval(r#"rule STARTS_WITH "shell""#));
    assert!(eval(r#"rule ENDS_WITH "Container""#));
    assert!(!eval(
        r#"rule ends_with "a much longer text than the rule itself, surely""#
    ));
    assert!(eval(r#"details.count STARTS_WITH "7""#));
    assert!(
        eval(r#"details.tags CONTAINS "mitre""#),
        "arrays match on their JSON text"
    );
}

#[test]
fn in_and_not_in() {
    assert!(eval(r#"namespace IN ["dev", "shop"]"#));
    assert!(eval("namespace in [dev, SHOP]"));
    assert!(!eval("namespace IN []"));
    assert!(eval("namespace NOT IN [dev, test]"));
    assert!(!eval("namespace not in [shop]"));
    assert!(eval("details.count IN [1, 7.0, 'x']"));
    assert!(eval("namespace IN [kube-system, shop]"));
    assert!(!eval("details.missing IN [a]"));
    assert!(eval("details.missing NOT IN [a]"));
}

#[test]
fn exists_is_postfix() {
    assert!(eval("details.priority EXISTS"));
    assert!(!eval("details.missing EXISTS"));
    assert!(
        !eval("details.nothing EXISTS"),
        "a JSON null does not exist"
    );
    assert!(eval("details.missing NOT EXISTS"));
    assert!(eval(r#"details.priority EXISTS AND severity >= "high""#));
    assert!(eval(
        r#"details.missing NOT EXISTS AND severity >= "high" AND true"#
    ));
    assert!(!eval(
        r#"details.priority exists and severity >= "critical""#
    ));
    assert!(eval("stage not exists or stage = ResponseComplete"));
}

#[test]
fn null_handling() {
    assert!(eval("details.missing = details.other"), "null = null");
    assert!(!eval(r#"details.missing = """#));
    assert!(eval(r#"details.missing != "x""#));
    assert!(!eval("details.missing > 1"));
    assert!(!eval("details.missing <= 1"));
    assert!(eval(r#"details.missing CONTAINS """#));
    assert!(!eval(r#"details.missing CONTAINS "a""#));
    assert!(!eval(r#"nonsense = "x""#));
    assert!(!eval(r#"stage = "x""#));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    // OR binds looser than AND: true OR (false AND false).
    assert!(eval("true OR false AND false"));
    // (true OR false) AND false with explicit parentheses.
    assert!(!eval("(true OR false) AND false"));
    // NOT binds tighter than AND: (NOT false) AND true.
    assert!(eval("NOT false AND true"));
    assert!(!eval("NOT (false OR true)"));
    assert!(eval("NOT NOT true"));
    assert!(eval(r#"NOT namespace = "dev" AND (is_low OR is_high)"#));
    assert!(eval("((((is_high))))"));
}

#[test]
fn keywords_are_case_insensitive() {
    assert!(eval(
        r#"namespace not in [dev] and not (source = "x" or false) AnD tRuE"#
    ));
    assert!(eval("IS_HIGH AND Is_Security"));
    assert!(eval("rule Starts_With terminal"));
    assert!(eval("TRUE"));
}

#[test]
fn keywords_need_a_word_boundary() {
    // `andy` and `order` are field paths, not AND / OR.
    assert!(eval("details.andy NOT EXISTS"));
    assert!(eval("order NOT EXISTS"));
    assert!(eval("true AND(true)"));
}

#[test]
fn macros() {
    assert!(eval("is_high"));
    for m in ["is_critical", "is_medium", "is_low", "is_info"] {
        assert!(!eval(m), "{m}");
    }
    assert!(eval("is_security"));
    for m in [
        "is_compliance",
        "is_performance",
        "is_operations",
        "is_cost",
    ] {
        assert!(!eval(m), "{m}");
    }
}

#[test]
fn quoting_and_escapes() {
    let e = Expression::parse(r#"title = "say \"hi\"\n\tok\\ \x""#).unwrap();
    let Node::Compare { right, .. } = &e.root else {
        panic!("not a comparison: {e:?}");
    };
    let Operand::Literal(lit) = right else {
        panic!("not a literal");
    };
    assert_eq!(lit.text, "say \"hi\"\n\tok\\ x");
    let single = Expression::parse(r"title = 'it\'s'").unwrap();
    let Node::Compare {
        right: Operand::Literal(lit),
        ..
    } = &single.root
    else {
        panic!("not a comparison");
    };
    assert_eq!(lit.text, "it's");
    assert!(eval(r#"title = 'Shell spawned'"#));
    assert!(eval("title = \"shell SPAWNED\""));
    assert!(eval("\ttitle\r\n=\n'shell spawned' "));
}

#[test]
fn field_paths_agree_with_event_field() {
    let e = event();
    for path in [
        "source",
        "category",
        "severity",
        "eventType",
        "event_type",
        "namespace",
        "metadata.namespace",
        "spec.resource.namespace",
        "kind",
        "spec.resource.kind",
        "name",
        "apiVersion",
        "rule",
        "result",
        "stage",
        "fingerprint",
        "title",
        "spec.severity",
        "details.count",
        "details.output_fields.k8s.pod.name",
        "spec.details.tags.1",
        "details.missing",
        "nonsense",
    ] {
        let expected = e.field(path).filter(|v| !v.is_null());
        let field = FieldRef::parse(path);
        let got = match field.resolve(&e) {
            Val::Null => None,
            Val::Num(n) => Some(json!(n)),
            other => Some(Value::String(other.text().into_owned())),
        };
        let expected = expected.map(|v| match v {
            Value::Number(n) => json!(n.as_f64()),
            Value::String(s) => Value::String(s),
            other => Value::String(other.to_string()),
        });
        assert_eq!(got, expected, "{path}");
    }
}

#[test]
fn display_keeps_the_source() {
    let text = "severity   >= 'high'";
    let e = Expression::parse(text).unwrap();
    assert_eq!(e.to_string(), text);
    assert_eq!(e.as_str(), text);
    assert_eq!(e, Expression::parse(text).unwrap());
}

#[test]
fn errors_name_the_position() {
    let cases = [
        (
            "(severity = 'high'",
            r#"expected AND, OR or ")" at position 19, found end of input"#,
        ),
        (
            "severity = 'high')",
            r#"expected AND, OR or end of input at position 18, found ")""#,
        ),
        ("title = 'abc", "unterminated string starting at position 9"),
        (
            "title = \"abc\\\"",
            "unterminated string starting at position 9",
        ),
        ("is_urgent", "unknown macro \"is_urgent\" at position 1"),
        (
            "true AND (severity = )",
            r#"expected an operand at position 22, found ")""#,
        ),
        ("", "expected an operand at position 1, found end of input"),
        (
            "severity = 'high' namespace",
            r#"expected AND, OR or end of input at position 19, found "namespace""#,
        ),
        (
            "namespace IN dev",
            r#"expected a list like ["a", "b"] after IN at position 14, found "dev""#,
        ),
        (
            "namespace NOT IN 'dev'",
            r#"expected a list like ["a", "b"] after IN at position 18, found "'dev'""#,
        ),
        (
            "namespace IN [a b]",
            r#"expected "," or "]" at position 17, found "b""#,
        ),
        (
            "namespace IN [a,]",
            "expected a list item (string, number or identifier) at position 17",
        ),
        (
            "severity AND true",
            r#"expected a comparison operator at position 10, found "AND""#,
        ),
        (
            "namespace",
            "expected a comparison operator at position 10, found end of input",
        ),
        (
            "namespace NOT 'x'",
            r#"expected IN or EXISTS after NOT at position 15, found "'x'""#,
        ),
        ("severity = AND", r#"expected an operand at position 12"#),
        (
            "severity = is_high",
            r#"expected an operand at position 12"#,
        ),
        (
            "x = [1]",
            "expected an operand (a list is only allowed after IN) at position 5",
        ),
        ("severity ! 'x'", "unexpected character '!' at position 10"),
        ("a = b @", "unexpected character '@' at position 7"),
        ("a = -5x", "unexpected character 'x' at position 7"),
        (
            "NOT",
            "expected an operand at position 4, found end of input",
        ),
        (
            "a = 1 OR",
            "expected an operand at position 9, found end of input",
        ),
        ("()", r#"expected an operand at position 2, found ")""#),
    ];
    for (text, message) in cases {
        let got = error(text);
        assert!(
            got.contains(message),
            "{text:?}: got {got:?}, want {message:?}"
        );
    }
}

#[test]
fn nesting_and_length_are_limited() {
    let deep = format!("{}true{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(
        error(&deep),
        format!("expression nests deeper than {MAX_DEPTH} levels at position 65")
    );
    let nots = format!("{}true", "NOT ".repeat(100));
    assert!(error(&nots).starts_with("expression nests deeper than 64 levels at position"));
    let ok = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(eval(&ok));
    let long = format!("title = '{}'", "x".repeat(MAX_LENGTH));
    assert_eq!(
        error(&long),
        format!(
            "expression is {} characters long, more than the limit of 4096",
            MAX_LENGTH + 10
        )
    );
    assert_eq!(Expression::parse(&long).unwrap_err().position(), None);
}

#[test]
fn error_positions_count_characters_not_bytes() {
    let err = Expression::parse("title = 'é' )").unwrap_err();
    assert_eq!(err.position(), Some(13));
}

/// A well-formed expression, printed.
#[derive(Debug, Clone)]
enum Gen {
    Leaf(String),
    Not(Box<Gen>),
    And(Box<Gen>, Box<Gen>),
    Or(Box<Gen>, Box<Gen>),
}

impl Gen {
    fn print(&self) -> String {
        match self {
            Gen::Leaf(s) => s.clone(),
            Gen::Not(e) => format!("NOT ({})", e.print()),
            Gen::And(a, b) => format!("({}) and ({})", a.print(), b.print()),
            Gen::Or(a, b) => format!("({}) OR {}", a.print(), b.print()),
        }
    }
}

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "severity",
        "namespace",
        "kind",
        "source",
        "rule",
        "stage",
        "details.count",
        "details.score",
        "details.flag",
        "details.nothing",
        "details.tags",
        "details.output_fields.user.name",
        "spec.details.missing.x",
        "nonsense",
    ])
    .prop_map(str::to_string)
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.-]{0,8}".prop_map(|s| format!("{s:?}")),
        any::<i32>().prop_map(|n| n.to_string()),
        (0u32..1000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
        prop::sample::select(vec!["true", "false", "'high'", "\"Info\"", "'shop'"])
            .prop_map(str::to_string),
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![field(), literal()]
}

fn leaf() -> impl Strategy<Value = Gen> {
    let op = prop::sample::select(vec![
        "=",
        "==",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "CONTAINS",
        "starts_with",
        "Ends_With",
    ]);
    let macro_name = prop::sample::select(vec![
        "is_critical",
        "is_high",
        "IS_MEDIUM",
        "is_low",
        "is_info",
        "is_security",
        "is_compliance",
        "is_performance",
        "is_operations",
        "is_cost",
    ]);
    prop_oneof![
        (operand(), op, operand()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (operand(), prop::bool::ANY)
            .prop_map(|(a, not)| { format!("{a} {}EXISTS", if not { "NOT " } else { "" }) }),
        (
            operand(),
            prop::bool::ANY,
            prop::collection::vec(literal(), 0..4)
        )
            .prop_map(|(a, not, items)| {
                format!(
                    "{a} {}IN [{}]",
                    if not { "not " } else { "" },
                    items.join(", ")
                )
            }),
        macro_name.prop_map(str::to_string),
        prop::sample::select(vec!["true", "false"]).prop_map(str::to_string),
    ]
    .prop_map(Gen::Leaf)
}

fn expression() -> impl Strategy<Value = Gen> {
    leaf().prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Gen::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Gen::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Gen::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn events() -> Vec<Event> {
    let mut quiet = event();
    quiet.severity = Severity::Info;
    quiet.category = Category::Operations;
    quiet.resource = None;
    quiet.details.clear();
    quiet.facts.stage = Some("ResponseComplete".into());
    vec![event(), quiet]
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in ".{0,300}") {
        let _ = Expression::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_expression_like_text(
        text in r#"[a-z_. ()\[\],'"=<>!0-9\\-]{0,120}|((NOT|AND|OR|IN|EXISTS|\(|\)|\[|\]|x|'s'|1|=|,) ){0,40}"#
    ) {
        let _ = Expression::parse(&text);
    }

    #[test]
    fn generated_expressions_parse_and_evaluate(e in expression()) {
        let text = e.print();
        let parsed = Expression::parse(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        if let Ok(parsed) = parsed {
            for ev in events() {
                let _ = parsed.matches(&ev);
            }
        }
    }

    #[test]
    fn not_negates(e in expression()) {
        let text = e.print();
        let plain = Expression::parse(&text);
        let negated = Expression::parse(&format!("NOT ({text})"));
        prop_assert!(plain.is_ok() && negated.is_ok());
        if let (Ok(plain), Ok(negated)) = (plain, negated) {
            for ev in events() {
                prop_assert_eq!(negated.matches(&ev), !plain.matches(&ev));
            }
        }
    }
}

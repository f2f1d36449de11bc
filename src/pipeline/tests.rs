use super::*;

fn observation(name: &str) -> ObservationRef {
    ObservationRef {
        namespace: "shop".into(),
        name: name.into(),
    }
}

#[test]
fn an_observation_names_its_source() {
    assert_eq!(source_of(&observation("falco-0123456789abcdef")), "falco");
    assert_eq!(
        source_of(&observation("my-tool-0123456789abcdef")),
        "my-tool"
    );
}

//! Drift guards: the committed generated code must match what the xtask produces from the
//! committed spec today, and the API surface must match its reviewed snapshot.
//!
//! Fix a failure with `cargo xtask generate` then `cargo insta review`.

use dakota_tests::read;

fn assert_current(spec: &str, out: &str) {
    let spec_text = read(spec);
    let generated = xtask::generate(&spec_text, spec).expect("spec generates");
    let mock = generated.mock.as_ref().expect("mocks generate");
    for (file, fresh) in [
        ("generated.rs", &generated.code),
        ("mock.rs", mock),
        ("resources.rs", &generated.resources),
    ] {
        let committed = read(&format!("{out}/src/{file}"));
        if committed != *fresh {
            let diff = similar::TextDiff::from_lines(committed.as_str(), fresh.as_str());
            panic!(
                "{out}/src/{file} is stale; run `cargo xtask generate --spec {spec} --out {out}`\n{}",
                diff.unified_diff().context_radius(2).header("committed", "regenerated")
            );
        }
    }
}

#[test]
fn generated_client_matches_the_spec() {
    assert_current("openapi/dakota.yaml", "dakota-api");
}

#[test]
fn hostile_fixture_matches_its_spec() {
    assert_current("xtask/fixtures/hostile.yaml", "tests/hostile-api");
}

#[test]
fn api_surface() {
    let spec_text = read("openapi/dakota.yaml");
    let generated = xtask::generate(&spec_text, "openapi/dakota.yaml").expect("spec generates");
    let listing = xtask::surface::surface(&generated.normalized, &generated.code)
        .expect("generated code parses");
    insta::assert_snapshot!("api_surface", listing);
}

use super::*;
use crate::{Params, SearchSpace, StudyView, Suggestion};

struct Fixed;
impl SearchStrategy for Fixed {
    fn ask(&mut self, _: &SearchSpace, _: &StudyView<'_>, _: u64) -> Result<Suggestion> {
        Ok(Suggestion::new(Params::new()))
    }
}

fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.search("fixed", "always the same", |_, _| Ok(Box::new(Fixed)))
}

#[test]
fn duplicate_names_both_origins() {
    let mut reg = Registry::new();
    register(&mut reg.registrar("crate a")).expect("first");
    let err = register(&mut reg.registrar("library b.so")).expect_err("duplicate");
    let msg = err.to_string();
    assert!(
        msg.contains("crate a") && msg.contains("library b.so"),
        "{msg}"
    );
}

#[test]
fn unknown_name_lists_known_and_closest() {
    let mut reg = Registry::new();
    register(&mut reg.registrar("crate a")).expect("register");
    let ctx = BuildContext::new(0).with_key("tune.search");
    let err = reg
        .build_search(&PluginSpec::named("fixd"), &ctx)
        .err()
        .expect("unknown");
    let msg = err.to_string();
    assert!(msg.contains("did you mean `fixed`"), "{msg}");
    assert!(reg.build_search(&PluginSpec::named("fixed"), &ctx).is_ok());
    let wrong_family = reg
        .build_pruner(&PluginSpec::named("fixed"), &ctx)
        .err()
        .expect("family");
    assert!(wrong_family.to_string().contains("unknown pruner plugin"));
    assert!(msg.starts_with("tune.search.kind:"), "{msg}");
}

#[test]
fn spec_splits_kind_from_params() {
    let v = serde_json::json!({"kind": "tpe", "n_startup": 10});
    let spec = PluginSpec::from_value(&v, "tune.search").expect("spec");
    assert_eq!(spec.kind, "tpe");
    assert_eq!(spec.params, serde_json::json!({"n_startup": 10}));
    let err =
        PluginSpec::from_value(&serde_json::json!({"n": 1}), "tune.search").expect_err("no kind");
    assert!(err.to_string().contains("tune.search.kind"));
    // A bare name is the plugin with its defaults.
    let named = PluginSpec::from_value(&serde_json::json!("greedy"), "stages[3].ensembler");
    assert_eq!(named.expect("name"), PluginSpec::named("greedy"));
    let err = PluginSpec::from_value(&serde_json::json!(3), "x").expect_err("a number");
    assert!(
        err.to_string().contains("a plugin name or a table"),
        "{err}"
    );
    assert!(PluginSpec::from_value(&serde_json::json!(""), "x").is_err());
}

use super::*;

#[test]
fn overrides_reach_nested_keys_and_stages_by_name() {
    let mut t: toml::Table = toml::from_str(
        "name = \"x\"\n[dataset]\nkind = \"glyphs\"\n[[stages]]\nkind = \"tune\"\nname = \"search\"\ntrials = 3\n",
    )
    .expect("toml");
    assert_eq!(
        apply_override(&mut t, "stages.search.trials=7").expect("set"),
        "stages[0].trials"
    );
    assert_eq!(t["stages"][0]["trials"].as_integer(), Some(7));
    // The form error messages print works too.
    apply_override(&mut t, "stages[0].trials=8").expect("set");
    assert_eq!(t["stages"][0]["trials"].as_integer(), Some(8));
    apply_override(&mut t, "dataset.train=100").expect("set");
    assert_eq!(t["dataset"]["train"].as_integer(), Some(100));
    apply_override(&mut t, "dataset.path=data/mnist").expect("set");
    let p = t["dataset"]["path"].as_str().expect("string");
    assert!(std::path::Path::new(p).is_absolute(), "{p}");
    apply_override(&mut t, "optimizer.kind=sgd").expect("set");
    assert_eq!(t["optimizer"]["kind"].as_str(), Some("sgd"));
    assert!(apply_override(&mut t, "novalue").is_err());
    assert!(apply_override(&mut t, "stages.nope.trials=1").is_err());
}

#[test]
fn overrides_reach_augmenters_by_kind_or_index() {
    let mut t: toml::Table =
        toml::from_str("augment = [{ kind = \"hflip\" }, { kind = \"affine\", degrees = 10 }]\n")
            .expect("toml");
    assert_eq!(
        apply_override(&mut t, "augment.affine.p=0").expect("set"),
        "augment[1].p"
    );
    assert_eq!(t["augment"][1]["p"].as_integer(), Some(0));
    assert_eq!(
        apply_override(&mut t, "augment.0.p=0.25").expect("set"),
        "augment[0].p"
    );
    assert_eq!(t["augment"][0]["p"].as_float(), Some(0.25));
    let e = apply_override(&mut t, "augment.cutout.p=1").expect_err("no cutout");
    assert!(e.contains("no augmenter named `cutout`"), "{e}");
}

#[test]
fn syntax_and_structure_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "name = \"x\"\n[dataset\nkind = 1\n").expect("write");
    let err = load(&path, &[]).expect_err("syntax").to_string();
    assert!(
        err.contains("p.toml:2") && err.contains("invalid TOML"),
        "{err}"
    );

    std::fs::write(
        &path,
        "name = \"x\"\nworkers = \"two\"\n[dataset]\nkind = \"glyphs\"\n[model]\nkind = \"mlp\"\n",
    )
    .expect("write");
    let err = load(&path, &[]).expect_err("type").to_string();
    assert!(err.contains("p.toml:2") && err.contains("workers"), "{err}");

    std::fs::write(&path, "name = \"x\"\n[dataset]\nkind = \"glyphs\"\n[model]\nkind = \"mlp\"\n[trainer]\nbatchsize = 3\n").expect("write");
    let err = load(&path, &[]).expect_err("unknown key").to_string();
    assert!(
        err.contains("p.toml:7") && err.contains("batchsize"),
        "{err}"
    );
}

//! PED-ANOVA on made-up studies, and against Optuna's own evaluator when it is installed.

use super::{Observation, importances};
use kiln_core::{Distribution, ParamValue, Params, Rng};
use std::collections::BTreeMap;

type Trial = (Params, BTreeMap<String, Distribution>, f64);

fn float(low: f64, high: f64, log: bool, step: Option<f64>) -> Distribution {
    Distribution::Float {
        low,
        high,
        log,
        step,
    }
}

/// A fixed study: `x` decides most of the loss, `act` some of it, `mom` (active for relu
/// only) a little; `lr`, `drop`, `width` and `n` none.
fn study(n: usize) -> Vec<Trial> {
    let mut rng = Rng::new(3);
    let acts = ["relu", "gelu", "<b>tanh</b>"];
    let mut out = Vec::new();
    for _ in 0..n {
        let mut p = Params::new();
        let mut d = BTreeMap::new();
        let x = rng.uniform_range(-5.0, 5.0);
        let lr = 10f64.powf(rng.uniform_range(-4.0, 0.0));
        let drop = rng.int_range(0, 4) as f64 / 10.0;
        let width = 2f64.powf(rng.uniform_range(0.0, 6.0)).round() as i64;
        let k = rng.int_range(1, 8);
        let act = acts[rng.below(3) as usize];
        p.insert("x".into(), ParamValue::Float(x));
        d.insert("x".into(), float(-5.0, 5.0, false, None));
        p.insert("lr".into(), ParamValue::Float(lr));
        d.insert("lr".into(), float(1e-4, 1.0, true, None));
        p.insert("drop".into(), ParamValue::Float(drop));
        d.insert("drop".into(), float(0.0, 0.4, false, Some(0.1)));
        let int = |low, high, log| Distribution::Int {
            low,
            high,
            log,
            step: 1,
        };
        p.insert("width".into(), ParamValue::Int(width.clamp(1, 64)));
        d.insert("width".into(), int(1, 64, true));
        p.insert("n".into(), ParamValue::Int(k));
        d.insert("n".into(), int(1, 8, false));
        p.insert("act".into(), ParamValue::Str(act.into()));
        d.insert(
            "act".into(),
            Distribution::Categorical {
                choices: acts.iter().map(|a| ParamValue::Str((*a).into())).collect(),
            },
        );
        let mut loss = (x - 1.0).powi(2) + if act == "gelu" { 0.0 } else { 6.0 };
        if act == "relu" {
            let mom = rng.uniform();
            p.insert("mom".into(), ParamValue::Float(mom));
            d.insert("mom".into(), float(0.0, 1.0, false, None));
            loss += 2.0 * (mom - 0.9).abs();
        }
        out.push((p, d, loss + 0.1 * rng.uniform()));
    }
    out
}

fn observe(trials: &[Trial]) -> Vec<Observation<'_>> {
    trials
        .iter()
        .map(|(params, distributions, loss)| Observation {
            params,
            distributions,
            loss: *loss,
        })
        .collect()
}

fn get(imp: &[(String, f64)], name: &str) -> f64 {
    imp.iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

#[test]
fn the_parameter_that_decides_the_loss_comes_first() {
    let trials = study(80);
    let imp = importances(&observe(&trials));
    assert_eq!(imp.len(), 7, "{imp:?}");
    assert_eq!(imp[0].0, "x", "{imp:?}");
    let total: f64 = imp.iter().map(|(_, v)| v).sum();
    assert!((total - 1.0).abs() < 1e-9, "{imp:?}");
    for noise in ["lr", "drop", "width", "n"] {
        assert!(get(&imp, "x") > 2.0 * get(&imp, noise), "{imp:?}");
    }
    assert!(imp.windows(2).all(|w| w[0].1 >= w[1].1), "{imp:?}");
}

#[test]
fn too_few_trials_or_no_spread_give_equal_shares() {
    let trials = study(1);
    let imp = importances(&observe(&trials));
    let share = 1.0 / imp.len() as f64;
    assert!(
        imp.iter().all(|(_, v)| (v - share).abs() < 1e-12),
        "{imp:?}"
    );
    assert!(importances(&[]).is_empty());
    // Non-finite losses are ignored, not propagated.
    let mut trials = study(30);
    trials[0].2 = f64::NAN;
    trials[1].2 = f64::INFINITY;
    let imp = importances(&observe(&trials));
    assert!(imp.iter().all(|(_, v)| v.is_finite()), "{imp:?}");
}

/// The study as JSON for the Python side: params, distributions, loss.
fn as_json(trials: &[Trial]) -> serde_json::Value {
    serde_json::Value::Array(
        trials
            .iter()
            .map(|(p, d, loss)| serde_json::json!({"params": p, "distributions": d, "value": loss}))
            .collect(),
    )
}

const OPTUNA: &str = r#"
import json, sys, warnings
warnings.simplefilter("ignore")
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
optuna.logging.set_verbosity(optuna.logging.ERROR)

def dist(d):
    if d["type"] == "float":
        return FloatDistribution(d["low"], d["high"], log=d["log"], step=d["step"])
    if d["type"] == "int":
        return IntDistribution(d["low"], d["high"], log=d["log"], step=d["step"])
    return CategoricalDistribution(d["choices"])

study = optuna.create_study(direction="minimize")
for t in json.load(sys.stdin):
    study.add_trial(optuna.trial.create_trial(
        params=t["params"],
        distributions={k: dist(v) for k, v in t["distributions"].items()},
        value=t["value"]))
ev = optuna.importance.PedAnovaImportanceEvaluator()
print(json.dumps(optuna.importance.get_param_importances(study, evaluator=ev)))
"#;

/// Optuna's importances for `trials`, `None` when Python or Optuna is missing.
fn optuna_importances(trials: &[Trial]) -> Option<BTreeMap<String, f64>> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args(["-c", OPTUNA])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let input = as_json(trials).to_string();
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("python3: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last()?).ok()
}

#[test]
fn importances_agree_with_optunas_evaluator() {
    for n in [40, 97] {
        let trials = study(n);
        let Some(theirs) = optuna_importances(&trials) else {
            assert!(
                std::env::var_os("KILN_REQUIRE_OPTUNA").is_none(),
                "KILN_REQUIRE_OPTUNA is set but `python3 -c 'import optuna'` failed"
            );
            eprintln!("optuna not installed: comparison skipped");
            return;
        };
        let ours = importances(&observe(&trials));
        eprintln!("n={n} ours {ours:?}\n      optuna {theirs:?}");
        assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
        for (name, v) in &ours {
            let t = theirs.get(name).copied().unwrap_or(f64::NAN);
            assert!((v - t).abs() < 0.01, "{name}: ours {v}, optuna's {t}");
        }
        // Clearly different parameters (by Optuna's figures) are ranked alike.
        for (a, va) in &theirs {
            for (b, vb) in &theirs {
                if va - vb > 0.05 {
                    assert!(get(&ours, a) > get(&ours, b), "{a} vs {b}: {ours:?}");
                }
            }
        }
    }
}

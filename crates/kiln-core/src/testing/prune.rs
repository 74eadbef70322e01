use crate::{Direction, FrozenTrial, Params, PruneDecision, Pruner, StudyView, TrialState};

fn trial(number: u64, state: TrialState, curve: &[f64]) -> FrozenTrial {
    let mut t = FrozenTrial::running(number, Params::new());
    t.state = state;
    for (i, v) in curve.iter().enumerate() {
        t.intermediate.insert(i as u64, *v);
    }
    if state == TrialState::Complete {
        t.values = curve.last().map(|v| vec![*v]);
    }
    t
}

/// The [`Pruner`] contract: never prunes a trial with no reports, never prunes the best
/// trial so far, is deterministic, and respects the direction. `make()` builds the pruner.
pub fn check_pruner(make: impl Fn() -> Box<dyn Pruner>) {
    for direction in [Direction::Minimize, Direction::Maximize] {
        let sign = if direction == Direction::Minimize {
            1.0
        } else {
            -1.0
        };
        let mut trials: Vec<FrozenTrial> = (0..10)
            .map(|i| {
                let base = sign * (1.0 + i as f64 * 0.1);
                let curve: Vec<f64> = (0..6).map(|s| base + sign * 0.5 / (s + 1) as f64).collect();
                trial(i, TrialState::Complete, &curve)
            })
            .collect();
        let pruner = make();

        let fresh = trial(10, TrialState::Running, &[]);
        trials.push(fresh.clone());
        let view = StudyView {
            directions: &[direction],
            trials: &trials,
        };
        assert_eq!(
            pruner.should_prune(&view, &fresh).expect("should_prune"),
            PruneDecision::Continue,
            "pruned a trial that reported nothing ({direction:?})"
        );

        let best_curve: Vec<f64> = (0..6).map(|_| sign * 0.1).collect();
        let best = trial(10, TrialState::Running, &best_curve);
        trials.pop();
        trials.push(best.clone());
        let view = StudyView {
            directions: &[direction],
            trials: &trials,
        };
        assert_eq!(
            pruner.should_prune(&view, &best).expect("should_prune"),
            PruneDecision::Continue,
            "pruned the best trial so far ({direction:?})"
        );

        let worst_curve: Vec<f64> = (0..6).map(|_| sign * 100.0).collect();
        let worst = trial(10, TrialState::Running, &worst_curve);
        trials.pop();
        trials.push(worst.clone());
        let view = StudyView {
            directions: &[direction],
            trials: &trials,
        };
        let d1 = pruner.should_prune(&view, &worst).expect("should_prune");
        let d2 = make().should_prune(&view, &worst).expect("should_prune");
        assert_eq!(d1, d2, "same study, same trial: different decisions");
        if let PruneDecision::Prune(reason) = d1 {
            assert!(!reason.is_empty(), "a prune decision needs a reason");
        }
    }
}

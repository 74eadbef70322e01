//! Trials and the read-only view of a study that strategies and pruners see.

use crate::space::{Distribution, Params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A trial's life cycle, with Optuna's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrialState {
    /// Asked and being trained.
    Running,
    /// Finished with values.
    Complete,
    /// Stopped early by a pruner; keeps its last intermediate value.
    Pruned,
    /// Raised an error or panicked; the reason is kept.
    Fail,
    /// Enqueued, not yet started.
    Waiting,
}

impl TrialState {
    /// Optuna's spelling, as stored in `trials.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "RUNNING",
            TrialState::Complete => "COMPLETE",
            TrialState::Pruned => "PRUNED",
            TrialState::Fail => "FAIL",
            TrialState::Waiting => "WAITING",
        }
    }

    /// Parses Optuna's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RUNNING" => TrialState::Running,
            "COMPLETE" => TrialState::Complete,
            "PRUNED" => TrialState::Pruned,
            "FAIL" => TrialState::Fail,
            "WAITING" => TrialState::Waiting,
            _ => return None,
        })
    }

    /// Whether the trial will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Pruned | TrialState::Fail
        )
    }
}

/// Whether an objective is minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Lower is better (a loss, an error rate).
    Minimize,
    /// Higher is better (an accuracy).
    Maximize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`. NaN is never better.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }

    /// Optuna's spelling, as stored in `study_directions.direction`.
    pub fn as_optuna(self) -> &'static str {
        match self {
            Direction::Minimize => "MINIMIZE",
            Direction::Maximize => "MAXIMIZE",
        }
    }
}

/// A snapshot of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenTrial {
    /// 0-based, unique within the study, in order of creation.
    pub number: u64,
    /// Where the trial is in its life cycle.
    pub state: TrialState,
    /// The suggested parameters (only the active ones).
    pub params: Params,
    /// The distribution each parameter was drawn from.
    pub distributions: BTreeMap<String, Distribution>,
    /// One value per objective, for complete trials.
    pub values: Option<Vec<f64>>,
    /// Values reported during training, by step (epoch).
    pub intermediate: BTreeMap<u64, f64>,
    /// Why the trial failed or was pruned.
    pub reason: Option<String>,
    /// Free-form attributes (checkpoint paths, metrics, budgets).
    pub attrs: BTreeMap<String, serde_json::Value>,
}

impl FrozenTrial {
    /// A new running trial with these parameters.
    pub fn running(number: u64, params: Params) -> Self {
        FrozenTrial {
            number,
            state: TrialState::Running,
            params,
            distributions: BTreeMap::new(),
            values: None,
            intermediate: BTreeMap::new(),
            reason: None,
            attrs: BTreeMap::new(),
        }
    }

    /// The first objective's value, for complete trials.
    pub fn value(&self) -> Option<f64> {
        self.values.as_ref().and_then(|v| v.first().copied())
    }

    /// The last reported intermediate value and its step.
    pub fn last_intermediate(&self) -> Option<(u64, f64)> {
        self.intermediate.iter().next_back().map(|(s, v)| (*s, *v))
    }
}

/// What strategies and pruners see of a study: its directions and every trial so far
/// (running ones included, so that parallel workers can avoid repeating a point).
#[derive(Debug, Clone, Copy)]
pub struct StudyView<'a> {
    /// One direction per objective.
    pub directions: &'a [Direction],
    /// Every trial, by number.
    pub trials: &'a [FrozenTrial],
}

impl<'a> StudyView<'a> {
    /// The first objective's direction.
    pub fn direction(&self) -> Direction {
        self.directions
            .first()
            .copied()
            .unwrap_or(Direction::Minimize)
    }

    /// Complete trials with finite first values.
    pub fn completed(&self) -> impl Iterator<Item = &'a FrozenTrial> + 'a {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite))
    }

    /// Complete trials with finite values that no other such trial dominates (every
    /// objective at least as good, one better), by number. For one objective: the best
    /// trials (ties included).
    pub fn pareto_front(&self) -> Vec<&'a FrozenTrial> {
        let done: Vec<&FrozenTrial> = self
            .trials
            .iter()
            .filter(|t| {
                t.state == TrialState::Complete
                    && t.values.as_ref().is_some_and(|v| {
                        v.len() == self.directions.len() && v.iter().all(|x| x.is_finite())
                    })
            })
            .collect();
        done.iter()
            .filter(|t| !done.iter().any(|o| dominates(self.directions, o, t)))
            .copied()
            .collect()
    }

    /// The best complete trial on the first objective.
    pub fn best(&self) -> Option<&'a FrozenTrial> {
        let dir = self.direction();
        self.completed()
            .fold(None, |best: Option<&FrozenTrial>, t| match best {
                Some(b)
                    if !dir
                        .better(t.value().unwrap_or(f64::NAN), b.value().unwrap_or(f64::NAN)) =>
                {
                    Some(b)
                }
                _ => Some(t),
            })
    }
}

/// Whether `a` dominates `b`: no objective worse, at least one better.
pub fn dominates(directions: &[Direction], a: &FrozenTrial, b: &FrozenTrial) -> bool {
    let (Some(va), Some(vb)) = (&a.values, &b.values) else {
        return false;
    };
    let mut better = false;
    for ((x, y), d) in va.iter().zip(vb).zip(directions) {
        if d.better(*y, *x) {
            return false;
        }
        better |= d.better(*x, *y);
    }
    better
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_the_non_dominated() {
        let t = |n: u64, v: [f64; 2]| {
            let mut t = FrozenTrial::running(n, Params::new());
            t.state = TrialState::Complete;
            t.values = Some(v.to_vec());
            t
        };
        // maximise accuracy, minimise size
        let trials = vec![
            t(0, [0.9, 100.0]),
            t(1, [0.8, 50.0]),
            t(2, [0.7, 80.0]),
            t(3, [0.95, 500.0]),
        ];
        let dirs = [Direction::Maximize, Direction::Minimize];
        let view = StudyView {
            directions: &dirs,
            trials: &trials,
        };
        let front: Vec<u64> = view.pareto_front().iter().map(|t| t.number).collect();
        assert_eq!(front, vec![0, 1, 3]);
    }
}

use kiln_core::{Ensembler, Error, Predictions, Result};
use serde::Deserialize;

/// How [`SoftVote`] chooses members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Every member.
    All,
    /// Greedy forward selection with replacement: repeatedly add the member that most
    /// improves validation accuracy of the average; stop when nothing improves.
    Greedy,
}

/// Parameters of [`SoftVote`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoftVoteConfig {
    /// Member selection.
    pub select: Selection,
    /// Most selection rounds for `greedy`.
    pub max_members: usize,
}

impl Default for SoftVoteConfig {
    fn default() -> Self {
        SoftVoteConfig {
            select: Selection::Greedy,
            max_members: 10,
        }
    }
}

/// Soft voting: the mean of the members' class probabilities.
#[derive(Debug, Clone)]
pub struct SoftVote {
    config: SoftVoteConfig,
}

impl SoftVote {
    /// A soft vote with `config`.
    pub fn new(config: SoftVoteConfig) -> Self {
        SoftVote { config }
    }
}

fn mean(members: &[&Predictions]) -> Result<Predictions> {
    let first = members
        .first()
        .ok_or_else(|| Error::Training("an ensemble needs at least one member".into()))?;
    let mut acc = vec![0f64; first.probs.len()];
    for m in members {
        if m.num_classes != first.num_classes || m.probs.len() != first.probs.len() {
            return Err(Error::Training(format!(
                "ensemble members disagree: {} rows × {} classes vs {} rows × {} classes",
                first.len(),
                first.num_classes,
                m.len(),
                m.num_classes
            )));
        }
        for (a, p) in acc.iter_mut().zip(&m.probs) {
            *a += f64::from(*p);
        }
    }
    let k = members.len() as f64;
    Predictions::new(
        first.num_classes,
        acc.into_iter().map(|a| (a / k) as f32).collect(),
    )
}

impl Ensembler for SoftVote {
    fn select(&self, members: &[Predictions], labels: &[u32]) -> Result<Vec<usize>> {
        if members.is_empty() {
            return Err(Error::Training(
                "an ensemble needs at least one member".into(),
            ));
        }
        if self.config.select == Selection::All {
            return Ok((0..members.len()).collect());
        }
        let mut chosen: Vec<usize> = Vec::new();
        let mut best_acc = f64::NEG_INFINITY;
        for _ in 0..self.config.max_members.max(1) {
            let mut round_best: Option<(f64, usize)> = None;
            for i in 0..members.len() {
                let mut trial: Vec<&Predictions> = chosen.iter().map(|&j| &members[j]).collect();
                trial.push(&members[i]);
                let acc = mean(&trial)?.accuracy(labels);
                if round_best.is_none_or(|(a, _)| acc > a) {
                    round_best = Some((acc, i));
                }
            }
            match round_best {
                Some((acc, i)) if acc > best_acc => {
                    best_acc = acc;
                    chosen.push(i);
                }
                _ => break,
            }
        }
        Ok(chosen)
    }

    fn combine(&self, members: &[&Predictions]) -> Result<Predictions> {
        mean(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_ensembler(|| Box::new(SoftVote::new(SoftVoteConfig::default())));
        kiln_core::testing::check_ensembler(|| {
            Box::new(SoftVote::new(SoftVoteConfig {
                select: Selection::All,
                max_members: 1,
            }))
        });
    }

    #[test]
    fn greedy_skips_a_useless_member() {
        let good = Predictions::new(2, vec![0.9, 0.1, 0.2, 0.8]).expect("p");
        let bad = Predictions::new(2, vec![0.1, 0.9, 0.8, 0.2]).expect("p");
        let chosen = SoftVote::new(SoftVoteConfig::default())
            .select(&[bad, good], &[0, 1])
            .expect("select");
        assert_eq!(chosen, vec![1]);
    }
}

//! The NSGA-II strategy: find the generation of the trial asked, its parent population,
//! two tournament winners, and their child.

use super::Nsga2Config;
use super::sort::{Member, select_elite};
use super::variation;
use kiln_core::{
    Direction, FrozenTrial, Result, Rng, SearchSpace, SearchStrategy, StudyView, Suggestion,
    TrialState,
};

/// NSGA-II (see the module docs of `nsga2`).
#[derive(Debug, Clone)]
pub struct Nsga2Search {
    config: Nsga2Config,
    seed: u64,
    /// The last elite computed: a cache, never state (see [`Elite`]).
    elite: Option<Elite>,
}

/// A generation's elite, and the trials it was selected from (by number, in study order):
/// the same inputs always give the same elite, so it is reused only when they match.
#[derive(Debug, Clone)]
struct Elite {
    generation: u64,
    pool: Vec<u64>,
    members: Vec<Member>,
}

impl Nsga2Search {
    /// An NSGA-II search with `config` (valid: see `Nsga2Config::check`), seeded with
    /// `seed` (the config's own `seed` is resolved by the registry).
    pub fn new(config: Nsga2Config, seed: u64) -> Self {
        Nsga2Search {
            config,
            seed,
            elite: None,
        }
    }
}

/// Every objective as a loss; NaN is the worst loss.
fn losses(t: &FrozenTrial, directions: &[Direction]) -> Option<Vec<f64>> {
    let values = t.values.as_ref()?;
    if values.len() != directions.len().max(1) {
        return None;
    }
    Some(
        values
            .iter()
            .zip(
                directions
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(Direction::Minimize)),
            )
            .map(|(&v, d)| {
                let loss = if d == Direction::Maximize { -v } else { v };
                if loss.is_nan() { f64::INFINITY } else { loss }
            })
            .collect(),
    )
}

impl SearchStrategy for Nsga2Search {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let mut rng = Rng::derive(self.seed, &[number]);
        let size = self.config.population_size as u64;
        let generation = number / size;
        if space.is_empty() || generation == 0 {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        }
        // The parents' pool: complete trials of earlier generations.
        let m = study.directions.len().max(1);
        let mut pool: Vec<&FrozenTrial> = Vec::new();
        let mut flat: Vec<f64> = Vec::new();
        for t in study.trials {
            if t.state != TrialState::Complete || t.number >= generation * size {
                continue;
            }
            if let Some(l) = losses(t, study.directions) {
                flat.extend(l);
                pool.push(t);
            }
        }
        if pool.is_empty() {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        }
        let numbers: Vec<u64> = pool.iter().map(|t| t.number).collect();
        let fresh =
            !matches!(&self.elite, Some(e) if e.generation == generation && e.pool == numbers);
        if fresh {
            self.elite = Some(Elite {
                generation,
                members: select_elite(&flat, m, self.config.population_size),
                pool: numbers,
            });
        }
        let members = match &self.elite {
            Some(e) => &e.members,
            None => return Ok(Suggestion::new(space.sample_uniform(&mut rng))),
        };
        let mut tournament = || {
            let i = members[rng.below(members.len() as u64) as usize];
            let j = members[rng.below(members.len() as u64) as usize];
            if j.beats(&i) { j.index } else { i.index }
        };
        let (a, b) = (tournament(), tournament());
        let child = variation::child(
            space,
            &pool[a].params,
            &pool[b].params,
            &self.config,
            &mut rng,
        );
        Ok(Suggestion::new(child))
    }
}

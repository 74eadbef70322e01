//! An incremental view of a study's trials, for code that reads the study again and
//! again (each claim, each epoch's pruning decision).
//!
//! A finished trial never changes ([`Storage::finish_trial`] leaves a trial that is not
//! running alone, and failing a stale one writes its reason and mark in one transaction),
//! and trials are numbered `0..n`. So everything before the first unfinished trial is
//! settled, and a refresh re-reads only from there: at steady state the few trials that
//! run now and the ones created since, instead of the whole study.

use super::open::Storage;
use super::study::StudyId;
use crate::error::Result;
use kiln_core::FrozenTrial;

/// A study's trials as last read; see the module docs.
#[derive(Debug, Clone)]
pub struct TrialView {
    study: StudyId,
    trials: Vec<FrozenTrial>,
}

impl TrialView {
    /// An empty view of `study` (the first refresh reads it whole).
    pub fn new(study: StudyId) -> Self {
        TrialView {
            study,
            trials: Vec::new(),
        }
    }

    /// The trials as of the last refresh, in number order.
    pub fn trials(&self) -> &[FrozenTrial] {
        &self.trials
    }
}

impl Storage {
    /// Brings `view` up to date and returns its trials.
    pub fn refresh<'v>(&self, view: &'v mut TrialView) -> Result<&'v [FrozenTrial]> {
        let settled = view
            .trials
            .iter()
            .enumerate()
            .position(|(i, t)| t.number != i as u64 || !t.state.is_finished())
            .unwrap_or(view.trials.len());
        let fresh = self.trials_from(view.study, settled as u64)?;
        view.trials.truncate(settled);
        view.trials.extend(fresh);
        Ok(&view.trials)
    }
}

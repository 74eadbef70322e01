use super::StageOutput;
use crate::train::{Control, EpochReport, Recipe, TrainOutcome, TrainSpec};
use crate::{
    Augmenter, Direction, Error, FrozenTrial, ImageSet, ModelRef, Params, Predictions, Registry,
    Result, Splits, TrainableModel,
};
use std::path::{Path, PathBuf};

/// A labelled split a saved model can be scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The validation split: what selection decides on.
    Valid,
    /// The test split: what is reported, never chosen on.
    Test,
}

impl Split {
    /// The split's name, as reports and the prediction cache write it.
    pub fn name(self) -> &'static str {
        match self {
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }

    /// This split of `splits`; the test split is an error when the dataset has none.
    pub fn of(self, splits: &Splits) -> Result<&ImageSet> {
        match self {
            Split::Valid => Ok(&splits.valid),
            Split::Test => splits
                .test
                .as_ref()
                .ok_or_else(|| Error::Training("the dataset has no test split".into())),
        }
    }
}

/// What a stage can see and use of the pipeline run. The engine implements it.
///
/// Models built here live on the run's device; `train` is the loop a tune trial runs
/// (schedules, augmentation, early stopping, checkpoints, probes), so a stage plugin gets
/// the same numbers a trial would.
pub trait StageContext {
    /// This stage's name.
    fn name(&self) -> &str;
    /// The run directory; a stage writes its files under it.
    fn run_dir(&self) -> &Path;
    /// This stage's seed (derived from the pipeline's and the stage's position).
    fn seed(&self) -> u64;
    /// Shows a progress line to the operator.
    fn progress(&self, message: &str);
    /// The dataset's splits.
    fn splits(&self) -> &Splits;
    /// The augmenters of training batches.
    fn augmenters(&self) -> &[Box<dyn Augmenter>];
    /// Every plugin, for stages that build their own (an ensembler, a scheduler).
    fn registry(&self) -> &Registry;
    /// The output of an earlier stage, by its name.
    fn output(&self, stage: &str) -> Option<&StageOutput>;
    /// Every earlier stage's name and output, in pipeline order.
    fn outputs(&self) -> Vec<(&str, &StageOutput)>;
    /// The recipe with `params` merged over the base config and earlier stages' locks.
    fn recipe(&self, params: &Params) -> Result<Recipe>;
    /// A fresh model for `recipe`, initialised from `seed`.
    fn build_model(&self, recipe: &Recipe, seed: u64) -> Result<Box<dyn TrainableModel>>;
    /// A model rebuilt from its parameters with its checkpoint's weights.
    fn load_model(&self, params: &Params, checkpoint: &Path) -> Result<Box<dyn TrainableModel>>;
    /// Trains a fresh model (or `spec.init_from`'s weights), calling `on_epoch` after
    /// every epoch; checkpoints named by `spec.checkpoints` go to the checkpoint folder.
    fn train(
        &self,
        spec: &TrainSpec<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport) -> Result<Control>,
    ) -> Result<TrainOutcome>;
    /// Mean loss and accuracy of `model` on `set`.
    fn evaluate(&self, model: &dyn TrainableModel, set: &ImageSet) -> Result<(f64, f64)>;
    /// Class probabilities of `model` on `set`.
    fn predict(&self, model: &dyn TrainableModel, set: &ImageSet) -> Result<Predictions>;
    /// Class probabilities of the saved model `model` on `split`. The engine computes them
    /// once per checkpoint and split and keeps them in the run's database, keyed by the
    /// checkpoint's and the split's contents, so an ensemble's selection, its evaluation and
    /// a rerun read them back instead of running every member again. The default computes
    /// them each time.
    fn model_predictions(&self, model: &ModelRef, split: Split) -> Result<Predictions> {
        let m = self.load_model(&model.params, &model.checkpoint)?;
        self.predict(m.as_ref(), split.of(self.splits())?)
    }
    /// The study of tune stage `stage`: its directions and trials.
    fn study(&self, stage: &str) -> Result<(Vec<Direction>, Vec<FrozenTrial>)>;
    /// The checkpoint folder (created on demand).
    fn checkpoint_dir(&self) -> Result<PathBuf>;
}

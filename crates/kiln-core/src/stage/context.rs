use super::StageOutput;
use crate::train::{Control, EpochReport, Recipe, TrainOutcome, TrainSpec};
use crate::{
    Augmenter, Direction, FrozenTrial, ImageSet, Params, Predictions, Registry, Result, Splits,
    TrainableModel,
};
use std::path::{Path, PathBuf};

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
    /// The study of tune stage `stage`: its directions and trials.
    fn study(&self, stage: &str) -> Result<(Vec<Direction>, Vec<FrozenTrial>)>;
    /// The checkpoint folder (created on demand).
    fn checkpoint_dir(&self) -> Result<PathBuf>;
}

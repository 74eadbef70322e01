//! kiln's built-in pipeline stages, written on the same [`kiln_core::StageContext`] API a
//! plugin author gets: the data splits, the registry, typed earlier outputs, and the
//! trainer a tune trial uses.
//!
//! | stage | kind | parameters (defaults) | hands on |
//! |---|---|---|---|
//! | train | `train` | `from`, `epochs` (trainer's), `patience`, `min_delta` (0), `checkpoint_every`, `keep_best` (1), `init_from` (fine-tune an earlier stage's model), `resume_schedule` (false), `top_k` (1: a tune stage's best k trials), `seeds` (1 run each), `snapshots` (false: periodic checkpoints as members) | the best checkpoint; as members, each run's best (and top `keep_best`, and the snapshots) |
//! | evaluate | `evaluate` | `from` (last stage with a model), `worst` (10) | test accuracy, loss, per-class accuracy, confusion matrix, most confident mistakes |
//! | ensemble | `ensemble` | `from` (tune: best trials; train: kept checkpoints), `top_k` (5), `ensembler` (`greedy`) | members, their fitted weights and the ensembler |
//! | LR range test | `lr_find` | `from`, `start_lr` (1e-7), `end_lr` (1), `steps` (100), `smoothing` (0.9), `diverge_factor` (4), `lock` (true) | suggested LR (min of steepest descent and minimum/10) and range (locks `optimizer.lr`; a tune stage's `from_lr_find` takes the range) |
//! | capacity sweep | `capacity` | `dims` (required: `model.X` → values in growth order), `epochs` (2), `per` (`param` or `second`), `threshold` (0), `min_gain` (0.002), `lock` (true) | the best size (locked) and the curve |
//! | pseudo-labelling | `pseudo_label` | `from`, `threshold` (0.95), `per_class_cap`, `rounds` (3), `epochs` (trainer's), `fine_tune` (true), `holdout` (pool = a share of the training split), `min_delta` (0) | the best model; per round the counts per class and pseudo-label accuracy |
//! | batch-size finder | `batch_size` | `from`, `start` (8), `max` (1024), `steps` (8), `memory_mb` (4096), `tolerance` (0.05), `lock` (true) | the chosen size (locks `trainer.batch_size`) |
//!
//! Every stage's output is a [`kiln_core::StageOutput`]; `locks` become the defaults of
//! every later stage. Each file holds one stage; the rule each uses to decide is written in
//! its module docs.

mod batch_size;
mod capacity;
mod common;
mod ensemble;
mod evaluate;
mod lr_find;
mod pseudo_label;
mod train;

pub use batch_size::{BatchSizeConfig, BatchSizePoint, BatchSizeStage};
pub use capacity::{CapacityConfig, CapacityPoint, CapacityStage, Cost};
pub use ensemble::{EnsembleConfig, EnsembleStage};
pub use evaluate::{ErrorAnalysis, EvaluateConfig, EvaluateStage, Mistake};
pub use lr_find::{LrFindConfig, LrFindStage, LrPoint, suggest};
pub use pseudo_label::{PseudoLabelConfig, PseudoLabelStage, PseudoRound};
pub use train::{TrainConfig, TrainStage};

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.stage(
        "train",
        "train the best parameters of an earlier stage longer; early stopping, best checkpoint",
        |params, ctx| Ok(Box::new(TrainStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "evaluate",
        "test-set metrics of an earlier stage's model, with error analysis",
        |params, ctx| Ok(Box::new(EvaluateStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "ensemble",
        "combine a tune stage's best trials or a train run's checkpoints",
        |params, ctx| Ok(Box::new(EnsembleStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "lr_find",
        "learning-rate range test: exponential sweep, suggested rate and range",
        |params, ctx| Ok(Box::new(LrFindStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "capacity",
        "grow depth and width step by step while the gain per cost pays",
        |params, ctx| Ok(Box::new(CapacityStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "pseudo_label",
        "add confidently predicted unlabelled samples and retrain, while validation improves",
        |params, ctx| Ok(Box::new(PseudoLabelStage::from_params(params, ctx)?)),
    )?;
    r.stage(
        "batch_size",
        "try batch sizes 8, 16, 32 … within a memory budget; lock the fastest per sample",
        |params, ctx| Ok(Box::new(BatchSizeStage::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);

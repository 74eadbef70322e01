//! kiln-core: the interface crate of kiln.
//!
//! Everything in kiln is a plugin behind one of the traits here — [`DatasetSource`],
//! [`Augmenter`], [`ModelFactory`], [`Scheduler`], [`SearchStrategy`], [`Pruner`],
//! [`Ensembler`] and [`Stage`] — registered by name in a [`Registry`].
//!
//! # Design rationale
//!
//! - **Object-safe traits, few required methods.** The executor holds plugins as
//!   `Box<dyn Trait>`; everything optional (state, hooks) has a default. Each trait's
//!   contract — thread safety, determinism, what an error means — is written on it, and the
//!   conformance suites in [`testing`] (feature `testing`) check it.
//! - **No backend type parameter.** Burn 0.22 picks the backend from a runtime `Device`, so a
//!   `Box<dyn TrainableModel>` needs no generic. Model authors write an ordinary Burn module,
//!   implement [`Classifier`], and return a [`ClassifierAdapter`]: the generic part is
//!   instantiated where the concrete module type is known.
//! - **Configs resolve through the registry.** A plugin is named as
//!   `{ kind = "name", ...params }` ([`PluginSpec`]) and built by the factory registered under
//!   that name. Registration goes through a `&mut` [`Registrar`], reached by `inventory` for
//!   static plugins and by an exported entry point for plugins in shared libraries, so both
//!   resolve the same way; no global type registry (which cannot see a library's types) is
//!   needed.
//! - **Validated once at the boundary.** A factory parses its parameters into its own config
//!   type and validates ranges there ([`BuildContext::parse`]); errors name the config key.
//! - **kiln owns its randomness.** [`Rng`] is a small serialisable generator whose sequence never
//!   changes with a dependency upgrade, so a resumed study continues the exact sequence.
//! - **No implementation dependencies.** This crate depends on Burn (for tensors and modules)
//!   and small utility crates only: no plugin, no database driver, no CLI.

pub mod abi;
pub mod augment;
pub mod bench;
pub mod data;
pub mod ensemble;
mod error;
pub mod model;
pub mod prune;
pub mod registry;
mod rng;
pub mod schedule;
pub mod search;
pub mod space;
pub mod stage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod train;
mod trial;

pub use augment::{
    Augmenter, Batch, HostImages, Targets, augment_chain, augment_images, runs_on_host,
};
pub use data::{DataSpec, DatasetSource, ImageSet, ImageShape, Splits};
pub use ensemble::{Ensembler, Predictions, check_weights};
pub use error::{Error, Family, Result};
pub use model::{
    Classifier, ClassifierAdapter, EvalStats, Histogram, LayerHealth, LayerProbe, ModelFactory,
    ModelSpec, OptimizerConfig, OptimizerKind, StepStats, TrainableModel, UpdateRatio,
};
pub use prune::{PruneDecision, Pruner};
pub use registry::{BuildContext, PluginSpec, Registrar, Registry};
pub use rng::Rng;
pub use schedule::{EpochMetrics, ScheduleContext, Scheduler};
pub use search::{SearchStrategy, Suggestion};
pub use space::{Condition, Distribution, ParamSpec, ParamValue, Params, SearchSpace};
pub use stage::{LrSuggestion, ModelRef, Split, Stage, StageContext, StageInput, StageOutput};
pub use train::{Objective, Recipe, TrainerConfig, WeightAverage};
pub use trial::{Direction, FrozenTrial, StudyView, TrialState, dominates};

/// Re-exported so that plugins use the exact Burn version kiln was built with.
pub use burn;
/// Re-exported so that [`submit_plugin!`] works without a direct dependency.
pub use inventory;

/// Burn's CPU generator is process-wide: initialising two models at once on two threads
/// would interleave their draws. Seeding and initialisation happen under this lock.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Seeds `device` and runs `init` while no other thread initialises: the same seed gives
/// the same initial weights whatever else runs.
pub fn with_seed<T>(device: &burn::prelude::Device, seed: u64, init: impl FnOnce() -> T) -> T {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    init()
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    fn assert_send<T: Send + ?Sized>() {}

    #[test]
    fn traits_are_thread_safe() {
        assert_send_sync::<dyn super::DatasetSource>();
        assert_send_sync::<dyn super::Augmenter>();
        assert_send_sync::<dyn super::ModelFactory>();
        assert_send_sync::<dyn super::Pruner>();
        assert_send_sync::<dyn super::Ensembler>();
        assert_send::<dyn super::SearchStrategy>();
        assert_send::<dyn super::Scheduler>();
        assert_send::<dyn super::TrainableModel>();
        assert_send_sync::<super::Registry>();
        assert_send_sync::<super::Error>();
    }
}

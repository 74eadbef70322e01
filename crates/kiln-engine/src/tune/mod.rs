//! The `tune` stage: a study run by a pool of worker threads.
//!
//! Each worker claims a trial (a waiting one first, else a fresh one from the strategy),
//! trains it, reports every epoch to the study and the pruner, and records the outcome.
//! Claims happen under one lock and trial numbers are assigned in an immediate
//! transaction, so workers never duplicate or lose a trial. A trial that returns an error
//! or panics is recorded as failed with its reason; the study goes on.

use crate::config::{Objective, PipelineStage, StudyPlan, describe};
use crate::context::{RunContext, study_name};
use crate::error::{EngineError, Result};
use crate::progress::TrialEnd;
use crate::storage::{Storage, StudyId, TrialId, TrialView};
use kiln_core::space::ParamSpec;
use kiln_core::train::{CheckpointPolicy, Control, EpochReport, StopReason, TrainSpec};
use kiln_core::{
    Direction, Distribution, Error, FrozenTrial, ModelRef, Params, PruneDecision, Pruner,
    SearchSpace, SearchStrategy, StageOutput, StudyView, TrialState,
};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod claim;
mod summary;
mod trial;

use claim::claim;
pub use summary::model_of_trial;
use summary::summarize;
use trial::{record, run_trial};

const STATE_KEY: &str = "kiln:search_state";

struct Shared {
    strategy: Box<dyn SearchStrategy>,
    in_flight: usize,
    /// The trials this process runs now (what its heartbeat thread beats for).
    mine: BTreeMap<u64, TrialId>,
    stop: bool,
    error: Option<EngineError>,
    /// The strategy state this process last saved to (or loaded from) the study: when the
    /// stored one differs, another process has asked or told since, and it is loaded.
    saved: Option<serde_json::Value>,
    /// The study as claims and results last read it.
    view: TrialView,
}

impl Shared {
    /// Takes up the strategy state another process sharing the study saved since this one
    /// last did. Called inside [`Storage::exclusive`].
    fn sync_state(&mut self, storage: &Storage, study: StudyId) -> Result<()> {
        let stored = storage.study_attr(study, STATE_KEY)?;
        if stored.is_some() && stored != self.saved {
            if let Some(state) = &stored {
                self.strategy.load_state(state)?;
            }
            self.saved = stored;
        }
        Ok(())
    }

    /// Saves the strategy state to the study. Called inside [`Storage::exclusive`].
    fn save_state(&mut self, storage: &Storage, study: StudyId) -> Result<()> {
        let state = self.strategy.save_state()?;
        storage.set_study_attr(study, STATE_KEY, &state)?;
        self.saved = Some(state);
        Ok(())
    }
}

/// What every trial of a stage shares besides the study: when it is stopped and failed
/// (its wall time, the process's resident memory), its pruner, and the view of the study
/// the pruner decides on (apart from the claims' view, so an epoch never waits for a claim
/// that waits for another process).
struct TrialEnv<'a> {
    time: Option<Duration>,
    memory: Option<u64>,
    pruner: Option<&'a dyn Pruner>,
    view: Mutex<TrialView>,
}

/// What a worker gets from [`claim`].
enum Claim {
    /// A trial to run.
    Job(Job),
    /// The study has its trials (or the search is exhausted).
    Done,
    /// The remaining budget is being run by other processes: wait for them to finish or
    /// go stale.
    Wait,
}

/// A study and what its values mean.
struct StudyRef<'a> {
    id: StudyId,
    objectives: &'a [Objective],
    directions: &'a [Direction],
}

struct Job {
    id: TrialId,
    number: u64,
    params: Params,
    epochs: usize,
}

enum Outcome {
    Complete {
        values: Vec<f64>,
        attrs: serde_json::Value,
    },
    Pruned {
        value: Option<f64>,
        reason: String,
        attrs: serde_json::Value,
    },
    Failed {
        reason: String,
    },
}

fn counts_as_done(t: &FrozenTrial) -> bool {
    t.state.is_finished() && !t.attrs.contains_key("system:kiln:interrupted")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The space with `optimizer.lr` bounded by an `lr_find` stage's range.
fn narrowed_space(ctx: &RunContext, plan: &StudyPlan, key: &str) -> Result<SearchSpace> {
    let Some(from) = &plan.config.from_lr_find else {
        return Ok(plan.space.clone());
    };
    let found = ctx.output(from).and_then(|o| o.lr).ok_or_else(|| {
        EngineError::Core(Error::config(
            format!("{key}.from_lr_find"),
            format!("stage `{from}` recorded no learning-rate range"),
        ))
    })?;
    let lr = ParamSpec {
        name: "optimizer.lr".into(),
        distribution: Distribution::Float {
            low: found.low,
            high: found.high,
            log: true,
            step: None,
        },
        condition: None,
    };
    let mut params: Vec<ParamSpec> = plan.space.params().to_vec();
    match params.iter_mut().find(|p| p.name == "optimizer.lr") {
        Some(p) => p.distribution = lr.distribution,
        None => params.push(lr),
    }
    Ok(SearchSpace::new(params)?)
}

/// Runs a tune stage; returns its output (best trial, counts).
pub fn run(
    ctx: &RunContext,
    index: usize,
    stage: &PipelineStage,
    plan: &StudyPlan,
) -> Result<StageOutput> {
    let (name, key) = (&stage.name, &stage.key);
    let (config, search, pruner) = (&plan.config, &plan.search, &plan.pruner);
    let space = &narrowed_space(ctx, plan, key)?;
    if let (Some(from), Some((low, high, _))) = (
        &config.from_lr_find,
        space
            .get("optimizer.lr")
            .and_then(|p| p.distribution.numeric_bounds()),
    ) {
        ctx.progress.line(&format!(
            "[{name}] optimizer.lr searched in [{low:.2e}, {high:.2e}] (from `{from}`)"
        ));
    }
    let objectives = config.objectives(&ctx.pipeline.trainer);
    let directions: Vec<Direction> = objectives.iter().map(|o| o.direction()).collect();
    let storage = &ctx.storage;
    let id = storage.create_or_load_study(&study_name(&ctx.pipeline.name, name), &directions)?;
    let study = &StudyRef {
        id,
        objectives: &objectives,
        directions: &directions,
    };
    let beat = Duration::from_secs_f64(config.heartbeat_seconds);
    let env = TrialEnv {
        pruner: None,
        view: Mutex::new(TrialView::new(study.id)),
        time: config.trial_timeout.map(Duration::from_secs_f64),
        memory: config
            .memory_limit_mb
            .map(|mb| (mb * (1u64 << 20) as f64) as u64)
            .or_else(crate::memory::default_limit),
    };
    let grace = Duration::from_secs_f64(config.grace_seconds);
    let recovered = storage.recover_stale(study.id, grace)?;
    if recovered > 0 {
        ctx.progress.line(&format!(
            "[{name}] {recovered} trial(s) whose worker stopped beating: re-enqueued"
        ));
    }
    let stage_seed = ctx.seed(&[index as u64]);
    let mut strategy = ctx
        .registry
        .build_search(search, &ctx.build_ctx(&format!("{key}.search"), stage_seed))?;
    let saved = storage.study_attr(study.id, STATE_KEY)?;
    if let Some(state) = &saved {
        strategy.load_state(state)?;
    }
    let pruner = pruner
        .as_ref()
        .map(|p| {
            ctx.registry
                .build_pruner(p, &ctx.build_ctx(&format!("{key}.pruner"), stage_seed))
        })
        .transpose()?;
    let env = TrialEnv {
        pruner: pruner.as_deref(),
        ..env
    };
    let epochs = config.epochs.unwrap_or(ctx.pipeline.trainer.epochs);
    let slots = ctx.pipeline.study_slots(config.workers);
    let workers = slots.len();
    // Each worker's device, parsed once (validation already accepted every name).
    let slot_devices = slots
        .iter()
        .map(|s| {
            crate::device::parse(&s.device)
                .map_err(|m| EngineError::Core(Error::config("devices", m)))
        })
        .collect::<Result<Vec<_>>>()?;
    let pinned = ctx.pipeline.pinned();
    let before = storage
        .trials(study.id)?
        .iter()
        .filter(|t| counts_as_done(t))
        .count();
    let on = if pinned {
        let devices: std::collections::BTreeSet<&str> =
            slots.iter().map(|s| s.device.as_str()).collect();
        format!(" on {}", devices.into_iter().collect::<Vec<_>>().join(", "))
    } else {
        String::new()
    };
    ctx.progress.line(&format!(
        "[{name}] study `{}`: {} of {} trials done; {} worker(s){on}, {epochs} epoch(s) per trial, objective {}",
        study_name(&ctx.pipeline.name, name),
        before,
        config.trials,
        workers,
        objectives.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
    ));
    ctx.progress.study_started(name, before, config.trials);
    let shared = Mutex::new(Shared {
        strategy,
        in_flight: 0,
        mine: BTreeMap::new(),
        stop: false,
        error: None,
        saved,
        view: TrialView::new(study.id),
    });
    let fail = |e: EngineError| {
        let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
        sh.stop = true;
        sh.error.get_or_insert(e);
    };
    let waiting_said = std::sync::atomic::AtomicBool::new(false);
    let worker = |w: usize| {
        let slot = crate::device::PinnedSlot {
            at: &slots[w],
            device: &slot_devices[w],
            pinned,
        };
        loop {
            let job = match claim(ctx, study, space, config.trials, epochs, &shared) {
                Ok(Claim::Job(job)) => job,
                Ok(Claim::Done) => break,
                Ok(Claim::Wait) => {
                    if !waiting_said.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        ctx.progress.line(&format!(
                            "[{name}] the rest of the budget runs in other processes; waiting for them (a trial silent for {}s is re-enqueued)",
                            config.grace_seconds
                        ));
                    }
                    // Polled often: the trials waited for usually just finish, and then
                    // this process is done; a dead one is found after the grace anyway.
                    std::thread::sleep(beat.min(Duration::from_millis(200)));
                    if let Err(e) = storage.recover_stale(study.id, grace) {
                        fail(e);
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
                    sh.stop = true;
                    sh.error.get_or_insert(e);
                    break;
                }
            };
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run_trial(ctx, index, name, study, &job, &env, &slot)
            }))
            .unwrap_or_else(|p| {
                Ok(Outcome::Failed {
                    reason: slot.failure(&format!("panicked: {}", panic_message(p.as_ref()))),
                })
            })
            .unwrap_or_else(|e| Outcome::Failed {
                reason: slot.failure(&e.to_string()),
            });
            if let Err(e) = record(ctx, name, study, &job, outcome, started, &shared) {
                let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
                sh.stop = true;
                sh.error.get_or_insert(e);
                break;
            }
        }
    };
    let running = std::sync::atomic::AtomicUsize::new(workers);
    let joined = crossbeam::scope(|s| {
        for w in 0..workers {
            let (worker, running) = (&worker, &running);
            s.spawn(move |_| {
                worker(w);
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // One heartbeat for every trial this process runs, from a thread of its own, so a
        // long epoch never looks like a dead worker.
        s.spawn(|_| {
            let mut last = Instant::now();
            while running.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                std::thread::sleep(Duration::from_millis(50).min(beat));
                if last.elapsed() < beat {
                    continue;
                }
                last = Instant::now();
                let ids: Vec<TrialId> = {
                    let sh = shared.lock().unwrap_or_else(|p| p.into_inner());
                    sh.mine.values().copied().collect()
                };
                for id in ids {
                    // A missed beat is harmless unless it lasts a whole grace period, and
                    // a database that stays unwritable fails the trial's own writes.
                    let _ = storage.heartbeat(id);
                }
            }
        });
    });
    ctx.progress.study_finished();
    joined.map_err(|_| {
        EngineError::Core(Error::Training(
            "a worker thread panicked outside a trial".into(),
        ))
    })?;
    let sh = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = sh.error {
        return Err(e);
    }
    summarize(ctx, name, study)
}

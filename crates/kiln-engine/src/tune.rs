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
                .map_err(|m| EngineError::Core(Error::config(format!("{key}.devices"), m)))
        })
        .collect::<Result<Vec<_>>>()?;
    let pinned = ctx.pipeline.slots_bounded;
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

fn claim(
    ctx: &RunContext,
    study: &StudyRef<'_>,
    space: &SearchSpace,
    target: usize,
    epochs: usize,
    shared: &Mutex<Shared>,
) -> Result<Claim> {
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let sh = &mut *guard;
    if sh.stop {
        return Ok(Claim::Done);
    }
    let storage = &ctx.storage;
    // Reading the study, asking and creating the trial is one section across processes:
    // otherwise two processes reading the same study at once would propose the same point.
    storage.exclusive(|| {
        sh.sync_state(storage, study.id)?;
        let trials = storage.refresh(&mut sh.view)?;
        let done = trials.iter().filter(|t| counts_as_done(t)).count();
        if done + sh.in_flight >= target {
            return Ok(Claim::Done);
        }
        // Running trials of other processes (their heartbeats fresh, or not yet found stale).
        let elsewhere = trials
            .iter()
            .filter(|t| t.state == TrialState::Running && !sh.mine.contains_key(&t.number))
            .count();
        let waiting = trials.iter().any(|t| t.state == TrialState::Waiting);
        if !waiting && done + sh.in_flight + elsewhere >= target {
            return Ok(if sh.in_flight > 0 {
                Claim::Done
            } else {
                Claim::Wait
            });
        }
        if let Some((id, number)) = storage.claim_waiting(study.id)? {
            let t = storage.trial(study.id, number)?.ok_or_else(|| {
                EngineError::Core(Error::Training(format!("claimed trial {id} vanished")))
            })?;
            let budget = t
                .attrs
                .get("system:kiln:epochs")
                .and_then(serde_json::Value::as_u64)
                .map(|e| e as usize);
            sh.in_flight += 1;
            sh.mine.insert(t.number, id);
            return Ok(Claim::Job(Job {
                id,
                number: t.number,
                params: t.params.clone(),
                epochs: budget.unwrap_or(epochs),
            }));
        }
        let number = trials.len() as u64;
        let view = StudyView {
            directions: study.directions,
            trials,
        };
        let suggestion = match sh.strategy.ask(space, &view, number) {
            Ok(s) => s,
            Err(Error::Exhausted(why)) => {
                ctx.progress.line(&format!("search finished early: {why}"));
                sh.stop = true;
                return Ok(Claim::Done);
            }
            Err(e) => return Err(e.into()),
        };
        space.check(&suggestion.params).map_err(|e| {
            EngineError::Core(Error::Plugin {
                family: kiln_core::Family::Search,
                name: "strategy".into(),
                message: format!("suggested parameters outside the space: {e}"),
            })
        })?;
        let distributions: BTreeMap<String, Distribution> = suggestion
            .params
            .keys()
            .filter_map(|k| space.get(k).map(|p| (k.clone(), p.distribution.clone())))
            .collect();
        let Some((id, number)) =
            storage.create_trial_within(study.id, &suggestion.params, &distributions, target)?
        else {
            // Another process took the last of the budget between our read and our write.
            // The strategy goes back to its saved state, so the point it just proposed is
            // not lost from a grid.
            if let Some(state) = storage.study_attr(study.id, STATE_KEY)? {
                sh.strategy.load_state(&state)?;
                sh.saved = Some(state);
            }
            return Ok(if sh.in_flight > 0 {
                Claim::Done
            } else {
                Claim::Wait
            });
        };
        let epochs = suggestion.epochs.unwrap_or(epochs);
        if suggestion.epochs.is_some() {
            storage.set_trial_attr(id, "kiln:epochs", &serde_json::json!(epochs), false)?;
        }
        sh.save_state(storage, study.id)?;
        sh.in_flight += 1;
        sh.mine.insert(number, id);
        Ok(Claim::Job(Job {
            id,
            number,
            params: suggestion.params,
            epochs,
        }))
    })
}

fn run_trial(
    ctx: &RunContext,
    index: usize,
    stage: &str,
    study: &StudyRef<'_>,
    job: &Job,
    env: &TrialEnv<'_>,
    slot: &crate::device::PinnedSlot<'_>,
) -> Result<Outcome> {
    if slot.pinned {
        // Where the trial ran, for the report and for finding a bad device afterwards.
        let at = serde_json::json!({ "device": slot.at.device, "slot": slot.at.slot });
        ctx.storage
            .set_trial_attr(job.id, "kiln:device", &at, false)?;
    }
    let mut recipe = ctx.recipe(&job.params)?;
    // The study's first objective is what epochs report and checkpoints are chosen by.
    if let Some(first) = study.objectives.first() {
        recipe.trainer.objective = *first;
    }
    let seed = ctx.seed(&[index as u64, job.number]);
    let label = format!("{stage}-trial-{:04}", job.number);
    ctx.progress
        .trial_started(stage, job.number, job.epochs, &describe(&job.params));
    let objective = recipe.trainer.objective;
    let direction = objective.direction();
    let mut running = FrozenTrial::running(job.number, job.params.clone());
    let spec = TrainSpec {
        checkpoints: Some(CheckpointPolicy::best(label)),
        time_limit: env.time,
        memory_limit: env.memory,
        ..TrainSpec::new(&recipe, job.epochs, seed)
    };
    let mut on_epoch = |r: &EpochReport| -> kiln_core::Result<Control> {
        let value = r.value(objective);
        let store = |e: EngineError| Error::Training(e.to_string());
        ctx.storage
            .report(job.id, r.epoch as u64, value)
            .map_err(store)?;
        running.intermediate.insert(r.epoch as u64, value);
        // Series for pruners that watch more than the objective (divergence, health); a
        // non-finite value is stored as null.
        let mut series = vec![("train_loss", r.train_loss), ("val_loss", r.val_loss)];
        if let Some(h) = &r.health {
            series.push(("dead_fraction", h.max_dead_fraction()));
            series.push(("update_ratio", h.max_update_ratio()));
            series.push(("train_val_gap", h.train_val_gap));
        }
        for (name, v) in series {
            let entry = running
                .attrs
                .entry(name.to_string())
                .or_insert_with(|| serde_json::json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(serde_json::json!(v));
            }
        }
        ctx.progress.trial_epoch(
            stage,
            job.number,
            r.epoch + 1,
            job.epochs,
            &format!(
                "loss {:.4}, val loss {:.4}, val acc {:.4} ({:.1}s)",
                r.train_loss, r.val_loss, r.val_accuracy, r.seconds
            ),
        );
        let Some(pruner) = env.pruner else {
            return Ok(Control::Continue);
        };
        let mut trials = {
            let mut view = env.view.lock().unwrap_or_else(|p| p.into_inner());
            ctx.storage.refresh(&mut view).map_err(store)?.to_vec()
        };
        trials.retain(|t| t.number != job.number);
        trials.push(running.clone());
        let view = StudyView {
            directions: &[direction],
            trials: &trials,
        };
        Ok(match pruner.should_prune(&view, &running)? {
            PruneDecision::Continue => Control::Continue,
            PruneDecision::Prune(reason) => Control::Stop(reason),
        })
    };
    let out = ctx.train_on(slot.device, stage, Some(job.number), &spec, &mut on_epoch)?;
    let checkpoint = out.best_checkpoint().map(|c| c.path.clone());
    let Some(best) = out.best() else {
        // Not one epoch finished: a divergence in the first epoch.
        return Ok(match out.stopped {
            Some(StopReason::TimedOut(reason) | StopReason::OutOfMemory(reason)) => {
                Outcome::Failed { reason }
            }
            Some(reason) => Outcome::Pruned {
                value: None,
                reason: reason.message().to_string(),
                attrs: serde_json::json!({ "epochs_run": 0 }),
            },
            None => Outcome::Failed {
                reason: "no epoch finished".into(),
            },
        });
    };
    let mut attrs = serde_json::json!({
        "val_accuracy": best.val_accuracy,
        "val_loss": best.val_loss,
        "best_epoch": out.best_epoch,
        "epochs_run": out.epochs.len(),
        "num_params": out.num_params,
    });
    if let (Some(map), Some(c)) = (attrs.as_object_mut(), &checkpoint) {
        map.insert("checkpoint".into(), serde_json::json!(c));
    }
    Ok(match out.stopped {
        Some(StopReason::TimedOut(reason) | StopReason::OutOfMemory(reason)) => {
            Outcome::Failed { reason }
        }
        Some(StopReason::Pruned(reason) | StopReason::Diverged(reason)) => Outcome::Pruned {
            value: running.last_intermediate().map(|(_, v)| v),
            reason,
            attrs,
        },
        _ if out.best_value.is_finite() => Outcome::Complete {
            values: study
                .objectives
                .iter()
                .map(|o| match o {
                    Objective::NumParams => out.num_params as f64,
                    Objective::TrainSeconds => out.epochs.iter().map(|e| e.seconds).sum(),
                    per_epoch => best.value(*per_epoch),
                })
                .collect(),
            attrs,
        },
        _ => Outcome::Failed {
            reason: format!("objective is {} after training", out.best_value),
        },
    })
}

fn record(
    ctx: &RunContext,
    stage: &str,
    study: &StudyRef<'_>,
    job: &Job,
    outcome: Outcome,
    started: Instant,
    shared: &Mutex<Shared>,
) -> Result<()> {
    let storage = &ctx.storage;
    let secs = started.elapsed().as_secs_f64();
    let no_attrs = serde_json::Map::new();
    let attrs_of = |attrs: &serde_json::Value| attrs.as_object().cloned().unwrap_or_default();
    let end = match &outcome {
        Outcome::Complete { .. } => TrialEnd::Complete,
        Outcome::Pruned { .. } => TrialEnd::Pruned,
        Outcome::Failed { .. } => TrialEnd::Failed,
    };
    let (kept, mut line) = match &outcome {
        Outcome::Complete { values, attrs } => {
            let kept = storage.finish_trial_with_attrs(
                job.id,
                TrialState::Complete,
                Some(values),
                None,
                &attrs_of(attrs),
            )?;
            let shown: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
            (kept, format!("COMPLETE, value {}", shown.join(", ")))
        }
        Outcome::Pruned {
            value,
            reason,
            attrs,
        } => {
            let values = value.filter(|v| !v.is_nan()).map(|v| vec![v]);
            let kept = storage.finish_trial_with_attrs(
                job.id,
                TrialState::Pruned,
                values.as_deref(),
                Some(reason),
                &attrs_of(attrs),
            )?;
            (kept, format!("PRUNED: {reason}"))
        }
        Outcome::Failed { reason } => {
            let kept = storage.finish_trial_with_attrs(
                job.id,
                TrialState::Fail,
                None,
                Some(reason),
                &no_attrs,
            )?;
            (kept, format!("FAILED: {reason}"))
        }
    };
    if !kept {
        // This process was taken for dead (silent past the grace: paused, or cut off from
        // the study) and the trial re-enqueued; the copy's result is the one that counts.
        line = format!("{line}, discarded: the study had taken it for dead and re-enqueued it");
    }
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let sh = &mut *guard;
    sh.in_flight = sh.in_flight.saturating_sub(1);
    sh.mine.remove(&job.number);
    let finished = storage.trial(study.id, job.number)?.filter(|_| kept);
    if let Some(t) = finished {
        storage.exclusive(|| {
            sh.sync_state(storage, study.id)?;
            sh.strategy.tell(&t)?;
            sh.save_state(storage, study.id)
        })?;
    }
    let trials = storage.refresh(&mut sh.view)?;
    let view = StudyView {
        directions: study.directions,
        trials,
    };
    let best_trial = view.best();
    let best = best_trial
        .map(|b| format!("; best #{} {:.4}", b.number, b.value().unwrap_or(f64::NAN)))
        .unwrap_or_default();
    let done = trials.iter().filter(|t| counts_as_done(t)).count();
    ctx.progress.trial_finished(
        end,
        job.number,
        &format!(
            "[{stage}] trial #{} {line} ({secs:.1}s) — {done} done{best}",
            job.number
        ),
        best_trial.and_then(FrozenTrial::value),
    );
    Ok(())
}

/// The tune trial's model, if it kept a checkpoint.
pub fn model_of_trial(t: &FrozenTrial) -> Option<ModelRef> {
    let checkpoint = t.attrs.get("checkpoint")?.as_str()?;
    Some(ModelRef {
        params: t.params.clone(),
        checkpoint: checkpoint.into(),
        epoch: t
            .attrs
            .get("best_epoch")
            .and_then(serde_json::Value::as_u64)
            .map(|e| e as usize),
        trial: Some(t.number),
        val_accuracy: t
            .attrs
            .get("val_accuracy")
            .and_then(serde_json::Value::as_f64),
        val_loss: t.attrs.get("val_loss").and_then(serde_json::Value::as_f64),
    })
}

fn summarize(ctx: &RunContext, name: &str, study: &StudyRef<'_>) -> Result<StageOutput> {
    let trials = ctx.storage.trials(study.id)?;
    let view = StudyView {
        directions: study.directions,
        trials: &trials,
    };
    let count = |s: TrialState| {
        trials
            .iter()
            .filter(|t| t.state == s && counts_as_done(t))
            .count()
    };
    let describe_trial = |b: &FrozenTrial| {
        serde_json::json!({
            "number": b.number,
            "value": b.value(),
            "values": b.values,
            "params": b.params,
            "checkpoint": b.attrs.get("checkpoint"),
            "val_accuracy": b.attrs.get("val_accuracy"),
            "val_loss": b.attrs.get("val_loss"),
            "num_params": b.attrs.get("num_params"),
        })
    };
    let first = study.objectives.first().copied().unwrap_or_default();
    let best = view.best();
    if let Some(b) = best {
        ctx.progress.line(&format!(
            "[{name}] best trial #{}: {} = {:.4} with {}",
            b.number,
            first.name(),
            b.value().unwrap_or(f64::NAN),
            describe(&b.params)
        ));
    }
    let pareto: Vec<serde_json::Value> = if study.objectives.len() > 1 {
        let front = view.pareto_front();
        ctx.progress.line(&format!(
            "[{name}] Pareto front: trials {:?}",
            front.iter().map(|t| t.number).collect::<Vec<_>>()
        ));
        front.into_iter().map(describe_trial).collect()
    } else {
        Vec::new()
    };
    let mut out = StageOutput::new("tune");
    out.params = best.map(|b| b.params.clone());
    out.model = best.and_then(model_of_trial);
    for (k, v) in [
        ("trials", trials.len()),
        ("complete", count(TrialState::Complete)),
        ("pruned", count(TrialState::Pruned)),
        ("failed", count(TrialState::Fail)),
    ] {
        out.metrics.insert(k.into(), v as f64);
    }
    if let Some(v) = best.and_then(FrozenTrial::value) {
        out.metrics.insert(first.name().into(), v);
    }
    out.details = serde_json::json!({
        "study": study_name(&ctx.pipeline.name, name),
        "objective": first.name(),
        "objectives": study.objectives.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "directions": study.directions,
        "best": best.map(describe_trial),
        "pareto_front": pareto,
    });
    Ok(out)
}

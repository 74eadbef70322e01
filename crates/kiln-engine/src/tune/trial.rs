//! One trial: trained on its slot, reported each epoch to the study and the pruner, and
//! its outcome recorded.

use super::*;

pub(super) fn run_trial(
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

pub(super) fn record(
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

//! Claiming a trial: a waiting one first, else a fresh point from the strategy, inside
//! the storage's cross-process section so no two workers or processes take the same one.

use super::*;

pub(super) fn claim(
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

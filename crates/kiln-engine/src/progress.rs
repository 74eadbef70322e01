//! Progress for the operator, on standard error.
//!
//! On a terminal a tune stage shows live bars (`indicatif`): one for the study — trials
//! done of the budget, how many run, were pruned or failed, the best value so far and an
//! ETA — and one per running trial with its epochs. Anywhere else (a pipe, a log file, CI)
//! and with `KILN_PROGRESS=plain`, the same events are plain timestamped lines, one per
//! trial start, epoch and end, so logs stay greppable.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a trial ended, for the study bar's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialEnd {
    /// Finished with a value.
    Complete,
    /// Stopped by the pruner.
    Pruned,
    /// Failed (error, divergence, panic).
    Failed,
}

/// Prints progress unless quiet: bars on a terminal, lines elsewhere.
#[derive(Clone)]
pub struct Progress {
    start: Instant,
    quiet: bool,
    bars: Option<Arc<Bars>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("quiet", &self.quiet)
            .field("bars", &self.bars.is_some())
            .finish()
    }
}

/// The live bars of the study running now.
struct Bars {
    multi: MultiProgress,
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    study: Option<ProgressBar>,
    trials: HashMap<u64, ProgressBar>,
    pruned: usize,
    failed: usize,
    best: Option<String>,
}

fn lock(bars: &Bars) -> std::sync::MutexGuard<'_, BarState> {
    // A panic while drawing leaves nothing inconsistent worth refusing to draw for.
    bars.state.lock().unwrap_or_else(|p| p.into_inner())
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress {
    /// A printer; `quiet` silences it. Bars when standard error is a terminal and
    /// `KILN_PROGRESS` is not `plain`.
    pub fn new(quiet: bool) -> Self {
        let live = std::io::stderr().is_terminal()
            && std::env::var("KILN_PROGRESS").map_or(true, |v| v != "plain");
        Self::with_bars(quiet, live)
    }

    /// A printer with live bars or plain lines, as asked.
    pub fn with_bars(quiet: bool, live: bool) -> Self {
        let live = live && !quiet;
        Progress {
            start: Instant::now(),
            quiet,
            bars: live.then(|| {
                Arc::new(Bars {
                    multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                    state: Mutex::new(BarState::default()),
                })
            }),
        }
    }

    fn stamp(&self, message: &str) -> String {
        let t = self.start.elapsed().as_secs();
        format!("[{:>3}:{:02}] {message}", t / 60, t % 60)
    }

    /// Prints one line, prefixed with the elapsed time (above the bars, if any).
    pub fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        let text = self.stamp(message);
        match &self.bars {
            Some(b) => {
                let _ = b.multi.println(text);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// A study of `total` trials starts, `done` of them finished before.
    pub fn study_started(&self, stage: &str, done: usize, total: usize) {
        let Some(b) = &self.bars else { return };
        let bar = b.multi.add(ProgressBar::new(total as u64));
        bar.set_style(style(
            "{prefix} [{bar:30}] {pos}/{len} trials · {msg} · {elapsed_precise} (ETA {eta})",
        ));
        bar.set_prefix(format!("[{stage}]"));
        bar.set_position(done as u64);
        bar.enable_steady_tick(Duration::from_millis(250));
        let mut s = lock(b);
        *s = BarState::default();
        bar.set_message("starting");
        s.study = Some(bar);
    }

    /// Trial `number` starts, for `epochs` epochs; `what` describes its parameters.
    pub fn trial_started(&self, stage: &str, number: u64, epochs: usize, what: &str) {
        let Some(b) = &self.bars else {
            self.line(&format!("[{stage}] trial #{number} started: {what}"));
            return;
        };
        let bar = b.multi.add(ProgressBar::new(epochs as u64));
        bar.set_style(style("  #{prefix} [{bar:20}] epoch {pos}/{len} {msg}"));
        bar.set_prefix(number.to_string());
        bar.set_message(what.to_string());
        let mut s = lock(b);
        s.trials.insert(number, bar);
        refresh(&s);
    }

    /// Trial `number` finished epoch `epoch` (1-based) of `epochs`; `numbers` says how.
    pub fn trial_epoch(
        &self,
        stage: &str,
        number: u64,
        epoch: usize,
        epochs: usize,
        numbers: &str,
    ) {
        let Some(b) = &self.bars else {
            self.line(&format!(
                "[{stage}]   #{number} epoch {epoch}/{epochs}: {numbers}"
            ));
            return;
        };
        let s = lock(b);
        if let Some(bar) = s.trials.get(&number) {
            bar.set_position(epoch as u64);
            bar.set_message(numbers.to_string());
        }
    }

    /// Trial `number` ended as `end`; `line` is its one-line result and `best` the study's
    /// best value so far.
    pub fn trial_finished(&self, end: TrialEnd, number: u64, line: &str, best: Option<f64>) {
        let Some(b) = &self.bars else {
            self.line(line);
            return;
        };
        let mut s = lock(b);
        if let Some(bar) = s.trials.remove(&number) {
            bar.finish_and_clear();
            b.multi.remove(&bar);
        }
        match end {
            TrialEnd::Complete => {}
            TrialEnd::Pruned => s.pruned += 1,
            TrialEnd::Failed => s.failed += 1,
        }
        if let Some(v) = best {
            s.best = Some(format!("{v:.4}"));
        }
        if let Some(study) = &s.study {
            study.inc(1);
        }
        refresh(&s);
        drop(s);
        self.line(line);
    }

    /// The study's bars go; what they showed is in the lines printed above them.
    pub fn study_finished(&self) {
        let Some(b) = &self.bars else { return };
        let mut s = lock(b);
        for (_, bar) in s.trials.drain() {
            bar.finish_and_clear();
        }
        if let Some(study) = s.study.take() {
            study.finish_and_clear();
        }
        let _ = b.multi.clear();
    }
}

fn refresh(s: &BarState) {
    if let Some(study) = &s.study {
        study.set_message(format!(
            "{} running · {} pruned · {} failed · best {}",
            s.trials.len(),
            s.pruned,
            s.failed,
            s.best.as_deref().unwrap_or("-")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_every_event_is_a_plain_line_and_no_bar_is_made() {
        let p = Progress::with_bars(false, false);
        assert!(p.bars.is_none());
        assert!(Progress::with_bars(true, true).bars.is_none(), "quiet wins");
        p.study_started("tune", 0, 3);
        p.trial_started("tune", 0, 2, "optimizer.lr=1e-3");
        p.trial_epoch("tune", 0, 1, 2, "loss 1.0");
        p.trial_finished(TrialEnd::Pruned, 0, "[tune] trial #0 PRUNED", Some(0.5));
        p.study_finished();
    }

    #[test]
    fn the_study_bar_counts_running_pruned_failed_and_the_best() {
        let bars = Arc::new(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            state: Mutex::new(BarState::default()),
        });
        let p = Progress {
            start: Instant::now(),
            quiet: false,
            bars: Some(bars.clone()),
        };
        p.study_started("tune", 1, 5);
        for n in 1..4 {
            p.trial_started("tune", n, 3, "x");
        }
        p.trial_epoch("tune", 2, 2, 3, "val acc 0.5");
        assert_eq!(lock(&bars).trials[&2].position(), 2);
        p.trial_finished(TrialEnd::Complete, 1, "done", Some(0.75));
        p.trial_finished(TrialEnd::Pruned, 2, "pruned", None);
        p.trial_finished(TrialEnd::Failed, 3, "failed", None);
        let s = lock(&bars);
        let study = s.study.as_ref().expect("study bar");
        assert_eq!(study.position(), 4, "one done before, three now");
        assert_eq!(
            study.message(),
            "0 running · 1 pruned · 1 failed · best 0.7500"
        );
        drop(s);
        p.study_finished();
        assert!(lock(&bars).study.is_none());
    }
}

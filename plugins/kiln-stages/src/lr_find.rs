//! `lr_find`: the learning-rate range test (Smith, 2017). The learning rate grows
//! exponentially from `start_lr` to `end_lr` over `steps` optimiser steps of a fresh model;
//! the loss is smoothed per step, and the sweep stops when it diverges.
//!
//! **Suggestion rule.** With `L̄` the bias-corrected exponential moving average of the loss
//! (β = `smoothing`, 0.9 by default: an average over ~10 steps, so that over a 100-step
//! sweep of seven decades it lags the raw loss by under one decade — fastai's 0.98 lags by
//! three and a half), let `lr_min` be the rate at the lowest `L̄` before divergence and
//! `lr_steep` the rate where `L̄` falls fastest against `log(lr)` (before `lr_min`). The
//! suggestion is the smaller of `lr_steep` (Smith's rule) and `lr_min / 10` (fastai's):
//! one decade below the minimum overshoots when the loss is still falling there from
//! training progress alone, and the steepest point of a short sweep is noisy; the smaller
//! keeps the rate where the loss still falls fast. The range worth searching, which a later
//! `tune` stage takes with `from_lr_find`, is `[suggested / 10, min(10 · suggested, lr_min)]`.
use crate::common::{params_from, reads_from};
use kiln_core::{
    BuildContext, Error, LrSuggestion, Result, Rng, Stage, StageContext, StageInput, StageOutput,
};
use serde::{Deserialize, Serialize};

/// Parameters of the `lr_find` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LrFindConfig {
    /// An earlier stage whose parameters to test with (default: the base config).
    pub from: Option<String>,
    /// First learning rate.
    pub start_lr: f64,
    /// Last learning rate.
    pub end_lr: f64,
    /// Optimiser steps of the sweep.
    pub steps: usize,
    /// β of the loss's moving average.
    pub smoothing: f64,
    /// Stop when the smoothed loss exceeds this multiple of its minimum.
    pub diverge_factor: f64,
    /// Lock `optimizer.lr` to the suggestion for later stages.
    pub lock: bool,
}

impl Default for LrFindConfig {
    fn default() -> Self {
        LrFindConfig {
            from: None,
            start_lr: 1e-7,
            end_lr: 1.0,
            steps: 100,
            smoothing: 0.9,
            diverge_factor: 4.0,
            lock: true,
        }
    }
}

/// One step of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrPoint {
    /// The learning rate of the step.
    pub lr: f64,
    /// Its batch loss.
    pub loss: f64,
    /// The bias-corrected moving average.
    pub smoothed: f64,
}

/// The `lr_find` stage.
#[derive(Debug, Clone)]
pub struct LrFindStage {
    config: LrFindConfig,
}

impl LrFindStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: LrFindConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if !(c.start_lr > 0.0 && c.start_lr < c.end_lr && c.end_lr.is_finite()) {
            return Err(Error::config(
                format!("{key}.start_lr"),
                format!(
                    "need 0 < start_lr < end_lr, got {} and {}",
                    c.start_lr, c.end_lr
                ),
            ));
        }
        if c.steps < 10 {
            return Err(Error::config(format!("{key}.steps"), "must be at least 10"));
        }
        if !(0.0..1.0).contains(&c.smoothing) {
            return Err(Error::config(
                format!("{key}.smoothing"),
                "must be in [0, 1)",
            ));
        }
        if c.diverge_factor <= 1.0 {
            return Err(Error::config(
                format!("{key}.diverge_factor"),
                "must be > 1",
            ));
        }
        Ok(LrFindStage { config: c })
    }
}

/// The suggestion from a sweep's curve (see the module docs); `None` if the loss never fell.
pub fn suggest(curve: &[LrPoint]) -> Option<(LrSuggestion, f64)> {
    let (imin, min) = curve
        .iter()
        .enumerate()
        .filter(|(_, p)| p.smoothed.is_finite())
        .min_by(|a, b| a.1.smoothed.total_cmp(&b.1.smoothed))?;
    if imin == 0 {
        return None;
    }
    let lr_min = min.lr;
    // Steepest descent of the smoothed loss against log(lr), before the minimum.
    let steepest = curve[..=imin]
        .windows(2)
        .min_by(|a, b| {
            let g = |w: &[LrPoint]| (w[1].smoothed - w[0].smoothed) / (w[1].lr / w[0].lr).ln();
            g(a).total_cmp(&g(b))
        })
        .map_or(lr_min, |w| w[0].lr);
    let suggested = steepest.min(lr_min / 10.0);
    Some((
        LrSuggestion {
            suggested,
            low: suggested / 10.0,
            high: (10.0 * suggested).min(lr_min),
        },
        steepest,
    ))
}

impl Stage for LrFindStage {
    fn reads(&self) -> Vec<StageInput> {
        reads_from(self.config.from.as_deref())
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let c = &self.config;
        let params = params_from(ctx, c.from.as_deref())?;
        let recipe = ctx.recipe(&params)?;
        let mut model = ctx.build_model(&recipe, ctx.seed())?;
        let train = &ctx.splits().train;
        let bs = recipe.trainer.batch_size.min(train.len()).max(1);
        let device = model.device().clone();
        let mut rng = Rng::new(ctx.seed());
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let mut cursor = 0usize;
        let ratio = (c.end_lr / c.start_lr).ln();
        let (mut avg, mut best) = (0.0f64, f64::INFINITY);
        let mut curve = Vec::with_capacity(c.steps);
        let mut stopped = None;
        ctx.progress(&format!(
            "sweeping the learning rate {:.1e} → {:.1e} over {} steps (batch {bs})",
            c.start_lr, c.end_lr, c.steps
        ));
        for i in 0..c.steps {
            if cursor + bs > order.len() {
                rng.shuffle(&mut order);
                cursor = 0;
            }
            let (x, y) = train.batch(&order[cursor..cursor + bs], &device);
            cursor += bs;
            let lr = c.start_lr * (ratio * i as f64 / (c.steps - 1) as f64).exp();
            let loss = model.train_step(x, y, lr)?.loss;
            if !loss.is_finite() {
                stopped = Some(format!("loss {loss} at lr {lr:.2e}"));
                break;
            }
            avg = c.smoothing * avg + (1.0 - c.smoothing) * loss;
            let smoothed = avg / (1.0 - c.smoothing.powi(i as i32 + 1));
            curve.push(LrPoint { lr, loss, smoothed });
            best = best.min(smoothed);
            if i > 0 && smoothed > c.diverge_factor * best {
                stopped = Some(format!(
                    "smoothed loss {smoothed:.3} > {}× its minimum {best:.3} at lr {lr:.2e}",
                    c.diverge_factor
                ));
                break;
            }
        }
        if let Some(why) = &stopped {
            ctx.progress(&format!("stopped: diverged ({why})"));
        }
        let lr_min = curve
            .iter()
            .filter(|p| p.smoothed.is_finite())
            .min_by(|a, b| a.smoothed.total_cmp(&b.smoothed))
            .map_or(f64::NAN, |p| p.lr);
        let (found, steepest) = suggest(&curve).ok_or_else(|| {
            Error::Training(format!(
                "stage `{}`: the loss never fell between {:.1e} and {:.1e}; widen the range",
                ctx.name(),
                c.start_lr,
                c.end_lr
            ))
        })?;
        ctx.progress(&format!(
            "suggested learning rate {:.2e} (loss lowest at {lr_min:.2e}, steepest at {:.2e}); range [{:.2e}, {:.2e}]",
            found.suggested, steepest, found.low, found.high
        ));
        let mut out = StageOutput::new("lr_find")
            .metric("suggested_lr", found.suggested)
            .metric("steepest_lr", steepest)
            .metric("min_loss_lr", lr_min);
        out.lr = Some(found);
        if c.lock {
            out.locks.insert(
                "optimizer.lr".into(),
                kiln_core::ParamValue::Float(found.suggested),
            );
        }
        out.details = serde_json::json!({
            "rule": "suggested = min(steepest descent, minimum / 10) of the smoothed loss; range [suggested / 10, min(10 × suggested, minimum)]",
            "stopped": stopped,
            "curve": curve,
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lr: f64, smoothed: f64) -> LrPoint {
        LrPoint {
            lr,
            loss: smoothed,
            smoothed,
        }
    }

    #[test]
    fn suggests_a_decade_below_the_minimum_when_the_steepest_point_is_higher() {
        // Steepest fall from 1e-3 to 1e-2; minimum at 1e-1.
        let curve = vec![
            point(1e-5, 2.3),
            point(1e-4, 2.2),
            point(1e-3, 2.0),
            point(1e-2, 1.0),
            point(1e-1, 0.9),
            point(1.0, 3.0),
        ];
        let (s, steepest) = suggest(&curve).expect("a minimum");
        assert!((steepest - 1e-3).abs() < 1e-12);
        assert!((s.suggested - 1e-3).abs() < 1e-12, "min(1e-3, 1e-1 / 10)");
        assert!((s.low - 1e-4).abs() < 1e-12);
        assert!((s.high - 1e-2).abs() < 1e-12);
    }

    #[test]
    fn takes_the_steepest_point_when_it_is_below_a_decade_under_the_minimum() {
        // Steepest fall from 1e-5 to 1e-4; minimum at 1e-2.
        let curve = vec![
            point(1e-5, 2.3),
            point(1e-4, 1.3),
            point(1e-3, 1.0),
            point(1e-2, 0.9),
            point(1e-1, 3.0),
        ];
        let (s, steepest) = suggest(&curve).expect("a minimum");
        assert!((steepest - 1e-5).abs() < 1e-15);
        assert!((s.suggested - 1e-5).abs() < 1e-15);
        assert!(
            (s.high - 1e-4).abs() < 1e-15,
            "10 × suggested, below the minimum"
        );
    }

    #[test]
    fn no_suggestion_when_the_loss_never_falls() {
        assert!(suggest(&[point(1e-5, 1.0), point(1e-4, 2.0)]).is_none());
    }
}

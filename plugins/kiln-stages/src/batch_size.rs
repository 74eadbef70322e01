//! `batch_size`: try batch sizes 8, 16, 32 … and lock the one that trains fastest per
//! sample within a memory budget.
//!
//! Each size runs `steps` optimiser steps of a fresh model. The process's resident memory
//! is read after every step (Linux `/proc/self/statm`); a size whose growth over the
//! baseline exceeds `memory_mb` ends the search, and so does one whose predicted growth
//! (twice the previous size's) would, so the process never reaches the budget. An
//! out-of-memory error from the device (a CUDA allocation failure) ends the search as a
//! result, not a crash. The chosen size is the fastest per sample; a smaller size within
//! `tolerance` of it wins (it generalises better and leaves memory spare).

use crate::common::{params_from, reads_from};
use kiln_core::{
    BuildContext, Error, ParamValue, Params, Result, Rng, Stage, StageContext, StageInput,
    StageOutput,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Parameters of the `batch_size` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSizeConfig {
    /// An earlier stage whose parameters to use (default: the base config).
    pub from: Option<String>,
    /// The first size.
    pub start: usize,
    /// The largest size tried.
    pub max: usize,
    /// Optimiser steps per size (the first is a warm-up and not timed).
    pub steps: usize,
    /// Resident-memory growth allowed, in MiB.
    pub memory_mb: f64,
    /// A smaller size within this fraction of the fastest time per sample is preferred.
    pub tolerance: f64,
    /// Lock `trainer.batch_size` for later stages.
    pub lock: bool,
}

impl Default for BatchSizeConfig {
    fn default() -> Self {
        BatchSizeConfig {
            from: None,
            start: 8,
            max: 1024,
            steps: 8,
            memory_mb: 4096.0,
            tolerance: 0.05,
            lock: true,
        }
    }
}

/// One size's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSizePoint {
    /// The batch size.
    pub batch_size: usize,
    /// Seconds per training sample (timed steps only).
    pub seconds_per_sample: f64,
    /// Mean loss over the steps.
    pub mean_loss: f64,
    /// Standard deviation of step-to-step loss changes (lower is smoother).
    pub loss_roughness: f64,
    /// Resident-memory growth over the baseline, MiB (None where it cannot be read).
    pub memory_mb: Option<f64>,
}

/// The process's resident memory in MiB (Linux), else `None`.
fn resident_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

fn is_out_of_memory(e: &Error) -> bool {
    let m = e.to_string().to_lowercase();
    [
        "out of memory",
        "out_of_memory",
        "outofmemory",
        "failed to allocate",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// The `batch_size` stage.
#[derive(Debug, Clone)]
pub struct BatchSizeStage {
    config: BatchSizeConfig,
}

impl BatchSizeStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: BatchSizeConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if c.start == 0 || c.start > c.max {
            return Err(Error::config(
                format!("{key}.start"),
                format!("need 1 <= start <= max, got {} and {}", c.start, c.max),
            ));
        }
        if c.steps < 2 {
            return Err(Error::config(format!("{key}.steps"), "must be at least 2"));
        }
        if c.memory_mb.is_nan() || c.memory_mb <= 0.0 {
            return Err(Error::config(format!("{key}.memory_mb"), "must be > 0"));
        }
        if !(0.0..1.0).contains(&c.tolerance) {
            return Err(Error::config(
                format!("{key}.tolerance"),
                "must be in [0, 1)",
            ));
        }
        Ok(BatchSizeStage { config: c })
    }

    fn measure(
        &self,
        ctx: &dyn StageContext,
        params: &Params,
        size: usize,
        baseline: Option<f64>,
    ) -> Result<BatchSizePoint> {
        let recipe = ctx.recipe(params)?;
        let mut model = ctx.build_model(&recipe, ctx.seed())?;
        let train = &ctx.splits().train;
        let device = model.device().clone();
        let mut rng = Rng::new(ctx.seed() ^ size as u64);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let (mut losses, mut timed, mut samples, mut peak) = (Vec::new(), 0.0, 0usize, 0.0f64);
        for step in 0..self.config.steps {
            rng.shuffle(&mut order);
            let idx: Vec<usize> = (0..size).map(|i| order[i % order.len()]).collect();
            let (x, y) = train.batch(&idx, &device);
            let started = Instant::now();
            let s = model.train_step(x, y, recipe.optimizer.lr)?;
            if step > 0 {
                timed += started.elapsed().as_secs_f64();
                samples += size;
            }
            losses.push(s.loss);
            if let (Some(now), Some(base)) = (resident_mb(), baseline) {
                peak = peak.max(now - base);
            }
        }
        let mean_loss = losses.iter().sum::<f64>() / losses.len() as f64;
        let diffs: Vec<f64> = losses.windows(2).map(|w| w[1] - w[0]).collect();
        let md = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
        let var = diffs.iter().map(|d| (d - md).powi(2)).sum::<f64>() / diffs.len().max(1) as f64;
        Ok(BatchSizePoint {
            batch_size: size,
            seconds_per_sample: timed / samples.max(1) as f64,
            mean_loss,
            loss_roughness: var.sqrt(),
            memory_mb: baseline.map(|_| peak),
        })
    }
}

impl Stage for BatchSizeStage {
    fn reads(&self) -> Vec<StageInput> {
        reads_from(self.config.from.as_deref())
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let c = &self.config;
        let params = params_from(ctx, c.from.as_deref())?;
        let baseline = resident_mb();
        let mut points: Vec<BatchSizePoint> = Vec::new();
        let mut stop = format!("reached the largest size {}", c.max);
        let mut size = c.start;
        while size <= c.max {
            if let Some(prev) = points.last().and_then(|p| p.memory_mb)
                && 2.0 * prev > c.memory_mb
            {
                stop = format!(
                    "size {size} would need about {:.0} MiB, over the budget of {} MiB",
                    2.0 * prev,
                    c.memory_mb
                );
                break;
            }
            match self.measure(ctx, &params, size, baseline) {
                Ok(p) => {
                    ctx.progress(&format!(
                        "batch {size}: {:.1} µs/sample, loss {:.4} (roughness {:.4}){}",
                        p.seconds_per_sample * 1e6,
                        p.mean_loss,
                        p.loss_roughness,
                        p.memory_mb
                            .map(|m| format!(", +{m:.0} MiB"))
                            .unwrap_or_default()
                    ));
                    let over = p.memory_mb.is_some_and(|m| m > c.memory_mb);
                    if over {
                        stop = format!("size {size} used more than {} MiB", c.memory_mb);
                        break;
                    }
                    points.push(p);
                }
                Err(e) if is_out_of_memory(&e) => {
                    stop = format!("size {size} ran out of memory: {e}");
                    break;
                }
                Err(e) => return Err(e),
            }
            size *= 2;
        }
        ctx.progress(&format!("stopped: {stop}"));
        let fastest = points
            .iter()
            .map(|p| p.seconds_per_sample)
            .fold(f64::INFINITY, f64::min);
        let chosen = points
            .iter()
            .find(|p| p.seconds_per_sample <= fastest * (1.0 + c.tolerance))
            .ok_or_else(|| {
                Error::Training(format!(
                    "stage `{}`: no batch size fit ({stop})",
                    ctx.name()
                ))
            })?;
        ctx.progress(&format!(
            "chosen batch size {} ({:.1} µs/sample)",
            chosen.batch_size,
            chosen.seconds_per_sample * 1e6
        ));
        let mut out = StageOutput::new("batch_size")
            .metric("batch_size", chosen.batch_size as f64)
            .metric("seconds_per_sample", chosen.seconds_per_sample);
        if c.lock {
            out.locks.insert(
                "trainer.batch_size".into(),
                ParamValue::Int(chosen.batch_size as i64),
            );
        }
        out.details = serde_json::json!({ "stopped": stop, "sizes": points });
        Ok(out)
    }
}

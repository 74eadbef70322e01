//! `ensemble`: combine several models — the best trials of a tune stage, or the top-k
//! checkpoints of one train run — choosing members on the validation set.

use kiln_core::{
    BuildContext, Error, ModelRef, PluginSpec, Predictions, Result, Split, Stage, StageContext,
    StageInput, StageOutput,
};
use serde::Deserialize;

/// Parameters of the `ensemble` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleConfig {
    /// A tune stage (its best complete trials) or a train stage (its kept checkpoints).
    pub from: String,
    /// Candidates: the best `top_k`.
    #[serde(default = "five")]
    pub top_k: usize,
    /// The ensembler; greedy selection if absent.
    pub ensembler: Option<serde_json::Value>,
}

fn five() -> usize {
    5
}

/// The `ensemble` stage.
#[derive(Debug, Clone)]
pub struct EnsembleStage {
    config: EnsembleConfig,
    ensembler: PluginSpec,
}

impl EnsembleStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let config: EnsembleConfig = ctx.parse(params)?;
        if config.top_k == 0 {
            return Err(Error::config(
                format!("{}.top_k", ctx.key),
                "must be at least 1",
            ));
        }
        let ensembler = match &config.ensembler {
            Some(v) => PluginSpec::from_value(v, &format!("{}.ensembler", ctx.key))?,
            None => PluginSpec::named("greedy"),
        };
        Ok(EnsembleStage { config, ensembler })
    }
}

fn label(m: &ModelRef) -> String {
    match (m.trial, m.epoch) {
        (Some(t), _) => format!("trial #{t}"),
        (None, Some(e)) => format!(
            "{} epoch {}",
            m.checkpoint
                .file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned()),
            e + 1
        ),
        _ => m.checkpoint.display().to_string(),
    }
}

impl Stage for EnsembleStage {
    fn reads(&self) -> Vec<StageInput> {
        vec![StageInput::new("from", &self.config.from, &[])]
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let from = &self.config.from;
        let source = ctx
            .output(from)
            .ok_or_else(|| Error::Training(format!("stage `{from}` has no output")))?;
        let candidates = if source.kind == "tune" {
            crate::common::best_trials(ctx, from, self.config.top_k)?
        } else {
            source
                .models()
                .into_iter()
                .take(self.config.top_k)
                .cloned()
                .collect()
        };
        if candidates.is_empty() {
            return Err(Error::Training(format!(
                "stage `{from}` has no model with a checkpoint to ensemble"
            )));
        }
        let build = BuildContext {
            seed: ctx.seed(),
            base_dir: ctx.run_dir().to_path_buf(),
            key: "ensembler".into(),
        };
        let ensembler = ctx.registry().build_ensembler(&self.ensembler, &build)?;
        let valid = &ctx.splits().valid;
        let mut preds = Vec::new();
        for m in &candidates {
            let p = ctx.model_predictions(m, Split::Valid)?;
            if ctx.splits().test.is_some() {
                // Cached now with the validation outputs, so evaluating the ensemble (and
                // any rerun) reads every member's test outputs back instead of running it.
                ctx.model_predictions(m, Split::Test)?;
            }
            ctx.progress(&format!(
                "candidate {}: val acc {:.4}",
                label(m),
                p.accuracy(&valid.labels)
            ));
            preds.push(p);
        }
        let fitted = ensembler.fit(&preds, &valid.labels)?;
        kiln_core::check_weights(preds.len(), &fitted)?;
        let chosen: Vec<usize> = (0..preds.len()).filter(|&i| fitted[i] > 0.0).collect();
        let refs: Vec<&Predictions> = chosen.iter().map(|&i| &preds[i]).collect();
        let weights: Vec<f64> = chosen.iter().map(|&i| fitted[i]).collect();
        let acc = ensembler.combine(&refs, &weights)?.accuracy(&valid.labels);
        let singles: Vec<f64> = preds.iter().map(|p| p.accuracy(&valid.labels)).collect();
        let best_single = singles.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let members: Vec<ModelRef> = chosen.iter().map(|&i| candidates[i].clone()).collect();
        let total: f64 = weights.iter().sum();
        ctx.progress(&format!(
            "ensemble of {}: val acc {acc:.4} ({:+.4} over the best candidate)",
            members
                .iter()
                .zip(&weights)
                .map(|(m, w)| format!("{} ×{:.2}", label(m), w / total))
                .collect::<Vec<_>>()
                .join(", "),
            acc - best_single
        ));
        let mut out = StageOutput::new("ensemble")
            .metric("val_accuracy", acc)
            .metric("best_member_val_accuracy", best_single)
            .metric("members", members.len() as f64);
        out.members = members;
        out.weights = weights;
        out.ensembler = Some(self.ensembler.clone());
        out.details = serde_json::json!({
            "from": from,
            "candidates": candidates.iter().zip(&singles).zip(&fitted).map(|((m, a), w)| serde_json::json!({
                "model": label(m),
                "val_accuracy": a,
                "weight": w / fitted.iter().sum::<f64>(),
            })).collect::<Vec<_>>(),
        });
        Ok(out)
    }
}

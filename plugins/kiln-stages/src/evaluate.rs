//! `evaluate`: test-set metrics of an earlier stage's model or ensemble, with error
//! analysis — per-class accuracy, the confusion matrix, the most confidently wrong samples.

use crate::common::reads_from;
use kiln_core::{
    BuildContext, Error, ImageSet, PluginSpec, Predictions, Result, Split, Stage, StageContext,
    StageInput, StageOutput,
};
use serde::{Deserialize, Serialize};

/// Parameters of the `evaluate` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateConfig {
    /// The stage whose model to evaluate (default: the last earlier stage with one).
    pub from: Option<String>,
    /// How many of the most confidently wrong samples to list.
    #[serde(default = "ten")]
    pub worst: usize,
}

fn ten() -> usize {
    10
}

/// A sample the model got wrong, and how sure it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    /// Index in the evaluated split.
    pub index: usize,
    /// The true class.
    pub label: u32,
    /// The predicted class.
    pub predicted: u32,
    /// The predicted class's probability.
    pub confidence: f32,
}

/// Per-class accuracy, confusion matrix and most confident mistakes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnalysis {
    /// Accuracy of each true class (NaN-free: a class with no sample gets 0).
    pub per_class_accuracy: Vec<f64>,
    /// Samples of each true class.
    pub per_class_count: Vec<usize>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// The most confidently wrong samples, most confident first.
    pub most_confident_mistakes: Vec<Mistake>,
}

impl ErrorAnalysis {
    /// Analyses `preds` against `labels`.
    pub fn of(preds: &Predictions, labels: &[u32], worst: usize) -> ErrorAnalysis {
        let k = preds.num_classes;
        let mut confusion = vec![vec![0usize; k]; k];
        let mut mistakes = Vec::new();
        let predicted = preds.argmax();
        for (i, (&y, &p)) in labels.iter().zip(&predicted).enumerate() {
            let (y, p) = (y as usize, p as usize);
            if y < k && p < k {
                confusion[y][p] += 1;
            }
            if y != p {
                let confidence = preds.probs.get(i * k + p).copied().unwrap_or(0.0);
                mistakes.push(Mistake {
                    index: i,
                    label: y as u32,
                    predicted: p as u32,
                    confidence,
                });
            }
        }
        mistakes.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.index.cmp(&b.index))
        });
        mistakes.truncate(worst);
        let per_class_count: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
        let per_class_accuracy = confusion
            .iter()
            .enumerate()
            .map(|(c, row)| row[c] as f64 / per_class_count[c].max(1) as f64)
            .collect();
        ErrorAnalysis {
            per_class_accuracy,
            per_class_count,
            confusion,
            most_confident_mistakes: mistakes,
        }
    }
}

/// The `evaluate` stage.
#[derive(Debug, Clone)]
pub struct EvaluateStage {
    config: EvaluateConfig,
}

impl EvaluateStage {
    /// Parses.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Ok(EvaluateStage {
            config: ctx.parse(params)?,
        })
    }
}

/// The test split, or the validation split (named as such) when the dataset has none.
fn test_set(ctx: &dyn StageContext) -> (&ImageSet, &'static str) {
    match &ctx.splits().test {
        Some(t) => (t, "test"),
        None => (&ctx.splits().valid, "valid"),
    }
}

impl Stage for EvaluateStage {
    fn reads(&self) -> Vec<StageInput> {
        reads_from(self.config.from.as_deref())
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let from = match &self.config.from {
            Some(f) => f.clone(),
            None => ctx
                .outputs()
                .into_iter()
                .rev()
                .find(|(_, o)| !o.models().is_empty())
                .map(|(n, _)| n.to_string())
                .ok_or_else(|| {
                    Error::config(
                        "from",
                        "no earlier stage produced a model to evaluate; name one with `from`",
                    )
                })?,
        };
        let out = ctx
            .output(&from)
            .ok_or_else(|| Error::Training(format!("stage `{from}` has no output")))?;
        let models = out.models();
        if models.is_empty() {
            return Err(Error::Training(format!("stage `{from}` produced no model")));
        }
        let (set, split) = test_set(ctx);
        let mut loss = None;
        let mut member_accuracy = Vec::new();
        let combined = if let [m] = models.as_slice() {
            let model = ctx.load_model(&m.params, &m.checkpoint)?;
            loss = Some(ctx.evaluate(model.as_ref(), set)?.0);
            ctx.predict(model.as_ref(), set)?
        } else {
            let which = if split == "test" {
                Split::Test
            } else {
                Split::Valid
            };
            let mut preds = Vec::new();
            for m in &models {
                let p = ctx.model_predictions(m, which)?;
                member_accuracy.push(p.accuracy(&set.labels));
                preds.push(p);
            }
            let spec = out
                .ensembler
                .clone()
                .unwrap_or_else(|| PluginSpec::named("soft_vote"));
            let build = BuildContext {
                seed: ctx.seed(),
                base_dir: ctx.run_dir().to_path_buf(),
                key: "ensembler".into(),
            };
            let ensembler = ctx.registry().build_ensembler(&spec, &build)?;
            let refs: Vec<&Predictions> = preds.iter().collect();
            ensembler.combine(&refs, &out.model_weights())?
        };
        let accuracy = combined.accuracy(&set.labels);
        let analysis = ErrorAnalysis::of(&combined, &set.labels, self.config.worst);
        ctx.progress(&format!(
            "{from}: {split} accuracy {accuracy:.4}{} on {} images",
            loss.map(|l| format!(", loss {l:.4}")).unwrap_or_default(),
            set.len()
        ));
        let weakest = analysis
            .per_class_accuracy
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1));
        if let Some((c, a)) = weakest {
            ctx.progress(&format!("weakest class {c}: accuracy {a:.4}"));
        }
        let mut output = StageOutput::new("evaluate").metric("accuracy", accuracy);
        if let Some(l) = loss {
            output.metrics.insert("loss".into(), l);
        }
        let best_member = member_accuracy.iter().copied().reduce(f64::max);
        if let Some(best) = best_member {
            ctx.progress(&format!(
                "best of {} members: {split} accuracy {best:.4}; the ensemble gains {:+.4}",
                member_accuracy.len(),
                accuracy - best
            ));
            output.metrics.insert("best_member_accuracy".into(), best);
            output
                .metrics
                .insert("gain_over_best_member".into(), accuracy - best);
        }
        output.metrics.insert("images".into(), set.len() as f64);
        output.details = serde_json::json!({
            "from": from,
            "split": split,
            "members": models.len(),
            "member_accuracy": member_accuracy,
            "error_analysis": analysis,
        });
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_analysis_counts_and_ranks_mistakes() {
        // 4 samples, 2 classes: sample 1 wrong with 0.9, sample 3 wrong with 0.6.
        let p = Predictions::new(2, vec![0.8, 0.2, 0.1, 0.9, 0.3, 0.7, 0.6, 0.4]).expect("rows");
        let a = ErrorAnalysis::of(&p, &[0, 0, 1, 1], 5);
        assert_eq!(a.confusion, vec![vec![1, 1], vec![1, 1]]);
        assert_eq!(a.per_class_accuracy, vec![0.5, 0.5]);
        let idx: Vec<usize> = a.most_confident_mistakes.iter().map(|m| m.index).collect();
        assert_eq!(idx, vec![1, 3]);
        assert_eq!(a.most_confident_mistakes[0].predicted, 1);
        assert!((a.most_confident_mistakes[0].confidence - 0.9).abs() < 1e-6);
        let one = ErrorAnalysis::of(&p, &[0, 0, 1, 1], 1);
        assert_eq!(one.most_confident_mistakes.len(), 1);
    }
}

use crate::{Error, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with L2 penalty added to the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// Stochastic gradient descent, optionally with momentum.
    Sgd,
}

/// The optimiser of a trial. Every field is searchable as `optimizer.<field>`.
///
/// kiln's defaults are PyTorch's, stated here because Burn's differ: ε = 1e-8 (Burn 1e-5),
/// AdamW weight decay 1e-2 (Burn 1e-4), SGD dampening 0 (Burn 0.1), no weight decay for
/// Adam and SGD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// `adam`, `adamw` or `sgd`.
    pub kind: OptimizerKind,
    /// Base learning rate (a scheduler scales it).
    pub lr: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// L2 penalty (Adam, SGD) or decoupled decay (AdamW); `None` takes the kind's default.
    pub weight_decay: Option<f64>,
    /// SGD momentum; 0 disables it.
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Clip each parameter's gradient to this L2 norm.
    pub grad_clip_norm: Option<f64>,
    /// L1 penalty: `l1 · Σ|w|` over every trainable float parameter is added to the loss
    /// before backward (any optimiser), so each gradient gains `l1 · sign(w)`. The reported
    /// loss stays the data loss. 0 (the default) disables it at no cost.
    pub l1: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: None,
            momentum: 0.0,
            nesterov: false,
            grad_clip_norm: None,
            l1: 0.0,
        }
    }
}

impl OptimizerConfig {
    /// Checks ranges; `key` is the config path used in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        let check = |ok: bool, field: &str, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(Error::config(format!("{key}.{field}"), msg))
            }
        };
        check(
            self.lr > 0.0 && self.lr.is_finite(),
            "lr",
            format!("must be > 0, got {}", self.lr),
        )?;
        check(
            (0.0..1.0).contains(&self.beta1),
            "beta1",
            format!("must be in [0, 1), got {}", self.beta1),
        )?;
        check(
            (0.0..1.0).contains(&self.beta2),
            "beta2",
            format!("must be in [0, 1), got {}", self.beta2),
        )?;
        check(
            self.eps > 0.0,
            "eps",
            format!("must be > 0, got {}", self.eps),
        )?;
        check(
            self.weight_decay.is_none_or(|w| w >= 0.0),
            "weight_decay",
            "must be >= 0".into(),
        )?;
        check(
            (0.0..1.0).contains(&self.momentum),
            "momentum",
            format!("must be in [0, 1), got {}", self.momentum),
        )?;
        check(
            self.grad_clip_norm.is_none_or(|c| c > 0.0),
            "grad_clip_norm",
            "must be > 0".into(),
        )?;
        check(
            self.l1 >= 0.0 && self.l1.is_finite(),
            "l1",
            format!("must be finite and >= 0, got {}", self.l1),
        )
    }

    /// The weight decay in effect.
    pub fn effective_weight_decay(&self) -> f64 {
        self.weight_decay.unwrap_or(match self.kind {
            OptimizerKind::Adamw => 1e-2,
            _ => 0.0,
        })
    }

    /// Burn's optimiser, configured with kiln's explicit values.
    pub fn build(&self) -> ModuleOptimizer {
        let wd = self.effective_weight_decay();
        let clip = self
            .grad_clip_norm
            .map(|c| GradientClippingConfig::Norm(c as f32));
        match self.kind {
            OptimizerKind::Adam => AdamConfig::new()
                .with_beta_1(self.beta1 as f32)
                .with_beta_2(self.beta2 as f32)
                .with_epsilon(self.eps as f32)
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::Adamw => AdamWConfig::new()
                .with_beta_1(self.beta1 as f32)
                .with_beta_2(self.beta2 as f32)
                .with_epsilon(self.eps as f32)
                .with_weight_decay(wd as f32)
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                .with_momentum((self.momentum > 0.0).then_some(MomentumConfig {
                    momentum: self.momentum,
                    dampening: 0.0,
                    nesterov: self.nesterov,
                }))
                .with_gradient_clipping(clip)
                .init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_l1_names_the_key() {
        let bad = OptimizerConfig {
            l1: -1e-4,
            ..OptimizerConfig::default()
        };
        let err = bad.validate("optimizer").expect_err("negative l1");
        assert!(err.to_string().contains("optimizer.l1"), "{err}");
        assert_eq!(OptimizerConfig::default().l1, 0.0);
        OptimizerConfig::default()
            .validate("optimizer")
            .expect("defaults are valid");
    }
}

//! The weight average behind `trainer.average` (EMA and SWA), kept on the model's device.
//!
//! Burn offers no "zip two modules" traversal, so the average is a list of flattened
//! tensors in the module's visiting order: a [`ModuleVisitor`] reads the weights in that
//! order and a [`ModuleMapper`] writes them back in the same order. Parameter ids stay
//! those of the model, so the optimiser's state (keyed by id) survives a swap.

use crate::{Error, Result};
use burn::Tensor;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};

/// An average of a module's float tensors (parameters and buffers), flattened, in the
/// module's visiting order.
#[derive(Default)]
pub(crate) struct WeightAverage {
    tensors: Vec<Tensor<1>>,
}

/// Reads every float tensor of a module, detached and flattened.
#[derive(Default)]
struct Flatten {
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.tensors.push(param.val().detach().reshape([-1_i32]));
    }
}

/// Puts `incoming` into the module's float tensors in visiting order, keeping each
/// tensor's shape and whether it is trained, and collects what it replaced. Shapes were
/// checked before ([`WeightAverage::swap`]), so a tensor that does not fit is left alone.
struct Exchange {
    incoming: std::vec::IntoIter<Tensor<1>>,
    outgoing: Vec<Tensor<1>>,
}

impl ModuleMapper for Exchange {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(next) = self.incoming.next() else {
            return param;
        };
        let outgoing = &mut self.outgoing;
        param.map(|current| {
            let dims = current.dims();
            let trained = current.is_require_grad();
            outgoing.push(current.clone().detach().reshape([-1_i32]));
            // `detach` makes the reshaped value a leaf again, which a trained parameter must be.
            let replacement = next.reshape(dims).detach();
            if trained {
                replacement.require_grad()
            } else {
                replacement
            }
        })
    }
}

impl WeightAverage {
    /// `avg ← decay·avg + (1 − decay)·w` over `module`'s float tensors (a copy on the
    /// first fold).
    pub(crate) fn fold<M: Module>(&mut self, module: &M, decay: f64) -> Result<()> {
        let mut current = Flatten::default();
        module.visit(&mut current);
        if self.tensors.is_empty() {
            self.tensors = current.tensors;
            return Ok(());
        }
        if current.tensors.len() != self.tensors.len() {
            return Err(Error::Training(format!(
                "the model has {} tensors, its average {}",
                current.tensors.len(),
                self.tensors.len()
            )));
        }
        let keep = decay as f32;
        let take = (1.0 - decay) as f32;
        self.tensors = std::mem::take(&mut self.tensors)
            .into_iter()
            .zip(current.tensors)
            .map(|(avg, w)| avg.mul_scalar(keep) + w.mul_scalar(take))
            .collect();
        Ok(())
    }

    /// `module` with the average's values, the average then holding the module's former
    /// values (so a second swap restores both). A module whose tensors do not match the
    /// average's is refused before anything changes.
    pub(crate) fn swap<M: Module>(&mut self, module: M) -> std::result::Result<M, (M, Error)> {
        if self.tensors.is_empty() {
            let e = Error::Training("no weights were folded into the average yet".into());
            return Err((module, e));
        }
        let mut current = Flatten::default();
        module.visit(&mut current);
        let sizes = |t: &[Tensor<1>]| t.iter().map(|t| t.dims()[0]).collect::<Vec<_>>();
        if sizes(&current.tensors) != sizes(&self.tensors) {
            let e = Error::Training(format!(
                "the model's tensors ({} of them) do not match its weight average's ({})",
                current.tensors.len(),
                self.tensors.len()
            ));
            return Err((module, e));
        }
        let mut exchange = Exchange {
            incoming: std::mem::take(&mut self.tensors).into_iter(),
            outgoing: Vec::new(),
        };
        let module = module.map(&mut exchange);
        self.tensors = exchange.outgoing;
        Ok(module)
    }
}

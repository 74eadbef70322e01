use kiln_core::{Error, Result, ScheduleContext, Scheduler};

/// The optimiser's base learning rate at every step.
#[derive(Debug, Clone, Default)]
pub struct ConstantSchedule {
    lr: f64,
}

impl Scheduler for ConstantSchedule {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        if !(ctx.base_lr > 0.0 && ctx.base_lr.is_finite()) {
            return Err(Error::config(
                "optimizer.lr",
                format!("must be > 0, got {}", ctx.base_lr),
            ));
        }
        self.lr = ctx.base_lr;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        self.lr
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kiln_core::testing::check_scheduler(|| Box::new(super::ConstantSchedule::default()));
    }
}

use crate::{EpochMetrics, ScheduleContext, Scheduler};

/// Validation metrics that improve, then stall (so plateau schedules act).
fn metrics(epoch: usize) -> EpochMetrics {
    let e = epoch.min(2) as f64;
    EpochMetrics {
        val_loss: 1.0 / (e + 1.0),
        val_accuracy: 0.5 + 0.1 * e,
    }
}

/// The [`Scheduler`] contract: finite positive rates, determinism, exact continuation after
/// `state`/`load_state`. `make()` builds the scheduler.
pub fn check_scheduler(make: impl Fn() -> Box<dyn Scheduler>) {
    let ctx = ScheduleContext {
        base_lr: 0.01,
        steps_per_epoch: 10,
        epochs: 5,
    };
    let mut a = make();
    a.start(&ctx).expect("start");
    let mut seq = Vec::new();
    for epoch in 0..ctx.epochs {
        for _ in 0..ctx.steps_per_epoch {
            let lr = a.step();
            assert!(
                lr.is_finite() && lr > 0.0,
                "learning rate {lr} is not finite and positive"
            );
            seq.push(lr);
        }
        a.end_epoch(epoch, &metrics(epoch));
    }
    let mut b = make();
    b.start(&ctx).expect("start");
    let mut resumed: Option<Box<dyn Scheduler>> = None;
    for (i, expected) in seq.iter().enumerate() {
        if i == 23 {
            let mut r = make();
            r.start(&ctx).expect("start");
            r.load_state(&b.state()).expect("load_state");
            resumed = Some(r);
        }
        let s = resumed.as_mut().unwrap_or(&mut b);
        assert_eq!(
            s.step(),
            *expected,
            "step {i} differs (determinism or state restore)"
        );
        if (i + 1) % ctx.steps_per_epoch == 0 {
            let epoch = i / ctx.steps_per_epoch;
            s.end_epoch(epoch, &metrics(epoch));
        }
    }
}

//! NSGA-II: the strategy contract, configuration errors, and quality against random
//! search on one and two objectives.

use super::{Crossover, Nsga2Config, Nsga2Search};
use crate::search::RandomSearch;
use crate::search::test_support::{
    assert_config_errors_name_the_key, best_value as best, run_trials as run,
};
use kiln_core::bench::box_space;
use kiln_core::testing::check_search_strategy;
use kiln_core::{Direction, FrozenTrial};
use serde_json::json;

fn nsga2(population_size: usize, crossover: Crossover, seed: u64) -> Nsga2Search {
    let config = Nsga2Config {
        population_size,
        crossover,
        ..Nsga2Config::default()
    };
    Nsga2Search::new(config, seed)
}

#[test]
fn conforms_with_uniform_and_sbx_crossover() {
    // Generations of 8 in the suite's 30 trials: crossover and mutation both run.
    check_search_strategy(|seed| Box::new(nsga2(8, Crossover::Uniform, seed)));
    check_search_strategy(|seed| Box::new(nsga2(8, Crossover::Sbx, seed)));
    check_search_strategy(|seed| Box::new(Nsga2Search::new(Nsga2Config::default(), seed)));
}

#[test]
fn bad_config_names_the_key() {
    assert_config_errors_name_the_key(&[
        (
            json!({"kind": "nsga2", "population_size": 1}),
            "population_size",
        ),
        (
            json!({"kind": "nsga2", "crossover_prob": 1.5}),
            "crossover_prob",
        ),
        (
            json!({"kind": "nsga2", "mutation_prob": -0.1}),
            "mutation_prob",
        ),
        (json!({"kind": "nsga2", "sbx_eta": 0.0}), "sbx_eta"),
        (json!({"kind": "nsga2", "crossover": "blend"}), "crossover"),
    ]);
}

/// ZDT1 on [0, 1]^5: its Pareto front is f2 = 1 - √f1 (at x2..x5 = 0).
fn zdt1(x: &[f64]) -> Vec<f64> {
    let g = 1.0 + 9.0 * x[1..].iter().sum::<f64>() / (x.len() - 1) as f64;
    vec![x[0], g * (1.0 - (x[0] / g).sqrt())]
}

/// The area dominated by the trials' (f1, f2) and bounded by the reference point.
fn hypervolume(trials: &[FrozenTrial], reference: (f64, f64)) -> f64 {
    let mut points: Vec<(f64, f64)> = trials
        .iter()
        .filter_map(|t| t.values.as_ref().map(|v| (v[0], v[1])))
        .filter(|&(a, b)| a < reference.0 && b < reference.1)
        .collect();
    points.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
    let (mut area, mut best_f2) = (0.0, reference.1);
    // Sweep by f1: each point that lowers the best f2 so far adds a strip.
    for &(f1, f2) in &points {
        if f2 < best_f2 {
            area += (reference.0 - f1) * (best_f2 - f2);
            best_f2 = f2;
        }
    }
    area
}

#[test]
fn two_objectives_beat_random_search() {
    let space = box_space(&[(0.0, 1.0); 5]);
    let directions = [Direction::Minimize, Direction::Minimize];
    for seed in 0..3 {
        let mut ga = nsga2(20, Crossover::Sbx, seed);
        let ga_trials = run(&mut ga, &space, &directions, &zdt1, 300);
        let mut random = RandomSearch::new(seed);
        let random_trials = run(&mut random, &space, &directions, &zdt1, 300);
        let (hv_ga, hv_random) = (
            hypervolume(&ga_trials, (1.1, 11.0)),
            hypervolume(&random_trials, (1.1, 11.0)),
        );
        println!("seed {seed}: hypervolume NSGA-II {hv_ga:.3}, random {hv_random:.3}");
        assert!(
            hv_ga > hv_random + 0.2,
            "seed {seed}: NSGA-II hypervolume {hv_ga:.3}, random {hv_random:.3}"
        );
    }
}

#[test]
fn one_objective_beats_random_search() {
    let space = box_space(&[(-5.0, 5.0); 5]);
    let sphere = |x: &[f64]| vec![x.iter().map(|v| v * v).sum::<f64>()];
    for seed in 0..3 {
        let mut ga = nsga2(20, Crossover::Uniform, seed);
        let ga_best = best(&run(&mut ga, &space, &[Direction::Minimize], &sphere, 300));
        let mut random = RandomSearch::new(seed);
        let random_best = best(&run(
            &mut random,
            &space,
            &[Direction::Minimize],
            &sphere,
            300,
        ));
        println!("seed {seed}: best NSGA-II {ga_best:.3}, random {random_best:.3}");
        assert!(
            ga_best < 0.5 * random_best,
            "seed {seed}: NSGA-II best {ga_best:.3}, random {random_best:.3}"
        );
    }
}

#[test]
fn maximised_objectives_are_turned_into_losses() {
    // Maximising -f is minimising f: same suggestions.
    let space = box_space(&[(0.0, 1.0); 5]);
    let negated = |x: &[f64]| zdt1(x).into_iter().map(|v| -v).collect::<Vec<f64>>();
    let mut a = nsga2(10, Crossover::Uniform, 4);
    let mut b = nsga2(10, Crossover::Uniform, 4);
    let ta = run(&mut a, &space, &[Direction::Minimize; 2], &zdt1, 60);
    let tb = run(&mut b, &space, &[Direction::Maximize; 2], &negated, 60);
    for (x, y) in ta.iter().zip(&tb) {
        assert_eq!(x.params, y.params, "trial {}", x.number);
    }
}

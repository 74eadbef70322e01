"""Optuna's TPE on the same functions and setup as `kiln bench search` (minimising,
`trials` trials x `seeds` seeds, default TPESampler(seed=seed)), printing the same JSON lines.

    pip install optuna==5.0.0
    python3 docs/scripts/optuna_baseline.py --trials 100 --seeds 10
"""
import argparse
import json
import math
import statistics
import time

import optuna


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


FUNCTIONS = {
    "branin": ([(-5, 10), (0, 15)], 0.397887, branin),
    "hartmann6": ([(0, 1)] * 6, -3.32237, hartmann6),
    "rosenbrock5": ([(-2, 2)] * 5, 0.0, rosenbrock),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--functions", default="branin,hartmann6,rosenbrock5")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in args.functions.split(","):
        bounds, optimum, f = FUNCTIONS[name]
        bests, times = [], []
        for seed in range(args.seeds):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
            tail = []
            for n in range(args.trials):
                t0 = time.perf_counter()
                trial = study.ask()
                x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
                t1 = time.perf_counter()
                y = f(x)
                t2 = time.perf_counter()
                study.tell(trial, y)
                t3 = time.perf_counter()
                if n + 10 >= args.trials:
                    tail.append((t1 - t0 + t3 - t2) * 1e3)
            bests.append(study.best_value)
            times.append(sum(tail) / len(tail))
        print(json.dumps({
            "function": name, "strategy": "optuna-tpe", "trials": args.trials, "seeds": args.seeds,
            "median_best": statistics.median(bests),
            "median_regret": statistics.median(b - optimum for b in bests),
            "ms_per_trial_at_end": sum(times) / len(times),
            "optuna": optuna.__version__,
        }), flush=True)


if __name__ == "__main__":
    main()

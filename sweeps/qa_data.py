"""The seeded runs of the time-series questions, run once.

Runs what three cells of chapters/06-appendix/qa-data.ipynb ran in the page,
in the notebook's order and with its seeds:

- missing values: a 16-unit GRU trained for 250 steps on a periodic series
  with no gap (one run), then with 10% and 50% of its values missing, for the
  four ways of handling the gaps ("zero", "mean", "forward", "forward + mask")
  and three seeds; the held-out MSE in original units of each run;
- periodicity: a 32-unit GRU and a one-layer convolution, 300 steps, three
  seeds: held-out MSE, input saliency (shares per lag), parameters, CPU time;
- high-dimensional inputs: a 32-unit GRU fed 512 raw inputs, a learned
  projection to 16, or PCA to 16, 250 steps, three seeds: held-out MSE,
  parameters, training CPU time (PCA included), explained variance.

The notebook loads chapters/06-appendix/data/qa_data_sweep.json, pinned by its
sha256, and reruns one run of each grid to check it. The runs took about 44 CPU
seconds here (one thread; the cpu_seconds field has the measured total). The
CPU times the page shows (per_seconds, hd_seconds) are the ones measured here.

    python sweeps/qa_data.py [--out PATH]
"""

import argparse
import time

import numpy as np
import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.labs.timeseries import (  # noqa: E402
    ConvRegressor,
    SeqRegressor,
    drop_at_random,
    fit_regressor,
    impute,
    input_saliency,
    low_rank_series,
    num_parameters,
    observed_stats,
    seasonal_series,
    steps_since_observed,
    windows,
)

OUT = "chapters/06-appendix/data/qa_data_sweep.json"
SEEDS = (0, 1, 2)
METHODS = ("zero", "mean", "forward", "forward + mask")
RATES = (0.1, 0.5)
MV_PERIOD, MV_NOISE, MV_LEVEL = 12, 0.3, 2.0
MV_LEN, MV_TRAIN, MV_WINDOW = 2000, 1400, 16
P, PER_WINDOW, PER_NOISE = 12, 36, 0.3
HD_DIM, HD_RANK, HD_PROJ, HD_WINDOW, HD_TRAIN = 512, 8, 16, 16, 1750


def missing_values():
    """The notebook's missing_value_run over its grid: (mv_full, {key: [mse]})."""
    series = seasonal_series(MV_LEN, MV_PERIOD, noise=MV_NOISE, seed=0) + MV_LEVEL

    def missing_value_run(rate, method, seed):
        observed = drop_at_random(series.shape, rate, seed=100 + seed)  # (T, 1)
        mu, sd = observed_stats(series[:MV_TRAIN], observed[:MV_TRAIN])
        fill = "forward" if method == "forward + mask" else method
        inputs = (impute(series, observed, fill, mu) - mu) / sd  # (T, 1)
        if method == "forward + mask":
            delta = steps_since_observed(observed)  # (T, 1)
            inputs = torch.cat(
                [inputs, observed.float(), torch.log1p(delta)], dim=1
            )  # (T, 3)
        X, y = windows(inputs, (series - mu) / sd, MV_WINDOW)
        n = MV_TRAIN - MV_WINDOW
        keep = observed[MV_WINDOW:MV_TRAIN, 0]
        model = SeqRegressor(inputs.shape[1], 1, hidden_size=16, seed=seed)
        fit = fit_regressor(
            model, X[:n][keep], y[:n][keep], (X[n:], y[n:]), steps=250, seed=seed
        )
        return float(fit.val_loss[-1] * sd**2)

    mv_full = missing_value_run(0.0, "zero", 0)
    mv = {
        f"{rate}/{m}": [missing_value_run(rate, m, s) for s in SEEDS]
        for rate in RATES
        for m in METHODS
    }
    return mv_full, mv


def periodicity():
    """The notebook's periodicity cell: per, saliency, per_params, per_seconds."""
    s = seasonal_series(2000, P, noise=PER_NOISE, seed=1)  # (T, 1)
    X, y = windows(s, s, PER_WINDOW)
    n = 1400 - PER_WINDOW
    per, saliency, per_params = {"GRU": [], "conv": []}, {"GRU": [], "conv": []}, {}
    per_seconds = {"GRU": 0.0, "conv": 0.0}
    for seed in SEEDS:
        models = {
            "GRU": SeqRegressor(1, 1, hidden_size=32, seed=seed),
            "conv": ConvRegressor(1, 1, PER_WINDOW, seed=seed),
        }
        for name, model in models.items():
            fit = fit_regressor(
                model, X[:n], y[:n], (X[n:], y[n:]), steps=300, seed=seed
            )
            per[name].append(float(fit.val_loss[-1]))
            per_seconds[name] += fit.cpu_seconds
            per_params[name] = num_parameters(model)
            sal = input_saliency(model, X[n:]).flip(0).numpy()  # (W,)
            saliency[name].append([float(v) for v in sal / sal.sum()])  # float32
    return {
        "per": per,
        "saliency": saliency,
        "per_params": per_params,
        "per_seconds": per_seconds,
    }


def high_dimensional():
    """The notebook's high-dimensional cell: hd, hd_params, hd_seconds, explained."""
    xs, z = low_rank_series(2500, HD_DIM, HD_RANK, noise=0.5, seed=0)
    c = torch.randn(HD_RANK, generator=torch.Generator().manual_seed(5))
    target = (z @ (c / c.norm()))[:, None]  # (T, 1)
    t0 = time.process_time()
    mean = xs[:HD_TRAIN].mean(0)
    _, S, Vh = torch.linalg.svd(xs[:HD_TRAIN] - mean, full_matrices=False)
    pcs = (xs - mean) @ Vh[:HD_PROJ].T  # (T, 16)
    pcs = pcs / pcs[:HD_TRAIN].std(0)
    pca_seconds = time.process_time() - t0
    explained = float((S[:HD_RANK] ** 2).sum() / (S**2).sum())
    X, y = windows(xs, target, HD_WINDOW)  # (N, 16, 512)
    Xp, _ = windows(pcs, target, HD_WINDOW)  # (N, 16, 16)
    n = HD_TRAIN - HD_WINDOW
    hd, hd_params, hd_seconds = (
        {"direct": [], "proj": [], "pca": []},
        {},
        {"direct": 0.0, "proj": 0.0, "pca": 0.0},
    )
    for seed in SEEDS:
        variants = {
            "direct": (SeqRegressor(HD_DIM, 1, 32, seed=seed), X),
            "proj": (SeqRegressor(HD_DIM, 1, 32, proj_size=HD_PROJ, seed=seed), X),
            "pca": (SeqRegressor(HD_PROJ, 1, 32, seed=seed), Xp),
        }
        for name, (model, inputs) in variants.items():
            fit = fit_regressor(
                model, inputs[:n], y[:n], (inputs[n:], y[n:]), steps=250, seed=seed
            )
            hd[name].append(float(fit.val_loss[-1]))
            hd_seconds[name] += fit.cpu_seconds
            hd_params[name] = num_parameters(model)
    hd_seconds["pca"] += len(SEEDS) * pca_seconds
    return {
        "hd": hd,
        "hd_params": hd_params,
        "hd_seconds": hd_seconds,
        "pca_seconds": pca_seconds,
        "explained": explained,
    }


def main(out):
    start = time.process_time()
    t0 = time.process_time()
    mv_full, mv = missing_values()
    mv_cpu = time.process_time() - t0
    print("missing values", mv_full, f"{mv_cpu:.1f} s", flush=True)
    t0 = time.process_time()
    per = periodicity()
    per_cpu = time.process_time() - t0
    print("periodicity", per["per"], f"{per_cpu:.1f} s", flush=True)
    t0 = time.process_time()
    hd = high_dimensional()
    hd_cpu = time.process_time() - t0
    print("high-dimensional", hd["hd"], f"{hd_cpu:.1f} s", flush=True)
    cpu = time.process_time() - start
    result = {
        "about": "the seeded runs of chapters/06-appendix/qa-data.ipynb: held-out "
        "MSE per seed (lists in the order of the seeds), keyed as in the page "
        "(missing values: 'rate/method'); see sweeps/qa_data.py",
        "settings": {
            "seeds": list(SEEDS),
            "methods": list(METHODS),
            "rates": list(RATES),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "missing_values": {"mv_full": mv_full, "mv": mv, "cpu_seconds": mv_cpu},
        "periodicity": {**per, "cpu_seconds": per_cpu},
        "high_dimensional": {**hd, "cpu_seconds": hd_cpu},
        "cpu_seconds": cpu,
    }
    digest = save_result(out, result)
    print(f"{out}\nsha256 {digest}\ncpu seconds {cpu:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"output JSON (default {OUT})")
    main(parser.parse_args().out)

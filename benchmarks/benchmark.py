"""Compare training recipes side by side on this machine, in one run.

Trains the official Keras example convnet ("reference") and the tutorial's
recipes over several seeds, each run in a fresh Python process so its peak memory
is its own, and writes a Markdown table (and the raw numbers as JSON) with test
accuracy (mean and spread), fit wall time, time per epoch and peak memory.

The runs are interleaved (seed 0 of every recipe, then seed 1, ...), so a slow
spell on a shared machine hits every recipe alike. Absolute times vary from
machine to machine and from hour to hour; compare recipes within one table.

Usage:
    python benchmarks/benchmark.py                  # 3 seeds, all recipes
    python benchmarks/benchmark.py --quick          # 1 seed, reference and fast
    python benchmarks/benchmark.py --recipes fast best --seeds 0 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_RECIPES = ("reference", "fast", "best", "mlp")
QUICK_RECIPES = ("reference", "fast")


def run_single(recipe_name: str, seed: int) -> dict:
    """Train one recipe with one seed and return its measurements."""
    from mnist_helpers.environment import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mnist_helpers import data, evaluation, preprocessing, training

    recipe = training.RECIPES[recipe_name]
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train = preprocessing.scale_images(x_train)
    x_test = preprocessing.scale_images(x_test)
    (x_fit, y_fit), validation = preprocessing.split_train_validation(
        x_train, y_train, 5000, seed=seed
    )

    training.set_seeds(seed)
    run = training.train(recipe, x_fit, y_fit, validation, verbose=0)
    test_accuracy = evaluation.model_accuracy(run.model, x_test, y_test)

    return {
        "recipe": recipe_name,
        "seed": seed,
        "epochs": recipe.epochs,
        "parameters": run.model.count_params(),
        "test_accuracy": float(test_accuracy),
        "val_accuracy": run.history["val_accuracy"][-1],
        "fit_seconds": run.fit_seconds,
        "seconds_per_epoch": run.fit_seconds / recipe.epochs,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def machine_description() -> dict:
    """Return the CPU model, core count and library versions of this machine."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("tensorflow", "keras", "numpy"):
        from importlib.metadata import version

        versions[name] = version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        "date": datetime.date.today().isoformat(),
    }


def summarise(results: list[dict], machine: dict, command: str) -> str:
    """Return the Markdown report of a benchmark run."""
    by_recipe: dict[str, list[dict]] = {}
    for result in results:
        by_recipe.setdefault(result["recipe"], []).append(result)
    reference = by_recipe.get("reference")
    reference_fit = (
        statistics.mean(r["fit_seconds"] for r in reference) if reference else None
    )

    lines = [
        "# Benchmark: training recipes side by side",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, no GPU; Python "
        f"{machine['python']}, TensorFlow {machine['tensorflow']}, Keras "
        f"{machine['keras']}, NumPy {machine['numpy']}; float32; {machine['date']}.",
        "",
        f"Command: `{command}`",
        "",
        "| recipe | epochs | parameters | seeds | test accuracy, mean | min - max "
        "| fit time, mean | per epoch | vs reference | peak memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in by_recipe.items():
        accuracies = [100 * r["test_accuracy"] for r in runs]
        fit = statistics.mean(r["fit_seconds"] for r in runs)
        ratio = f"{fit / reference_fit:.2f}x" if reference_fit else "n/a"
        lines.append(
            f"| {name} | {runs[0]['epochs']} | {runs[0]['parameters']:,} | "
            f"{len(runs)} | {statistics.mean(accuracies):.2f}% | "
            f"{min(accuracies):.2f} - {max(accuracies):.2f}% | {fit:.1f} s | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in runs):.2f} s | "
            f"{ratio} | {max(r['peak_memory_mib'] for r in runs):.0f} MiB |"
        )
    lines += [
        "",
        "Fit time is the wall time of `model.fit` (validation after each epoch "
        "included, data loading and evaluation excluded). Peak memory is the "
        "resident set of the whole training process. Test accuracy is measured "
        "once per run, after training; every choice (epochs, learning rate, "
        "architecture) was made on the validation split.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 recipes")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--single", nargs=2, metavar=("RECIPE", "SEED"))
    arguments = parser.parse_args()

    if arguments.single:
        recipe_name, seed = arguments.single
        print(json.dumps(run_single(recipe_name, int(seed))))
        return 0

    recipes = arguments.recipes or (
        QUICK_RECIPES if arguments.quick else DEFAULT_RECIPES
    )
    seeds = arguments.seeds or ([0] if arguments.quick else [0, 1, 2])
    results = []
    for seed in seeds:
        for recipe_name in recipes:
            completed = subprocess.run(
                [sys.executable, __file__, "--single", recipe_name, str(seed)],
                capture_output=True,
                text=True,
                check=False,
            )
            if completed.returncode != 0:
                print(completed.stderr[-2000:], file=sys.stderr)
                print(f"error: {recipe_name} seed {seed} failed", file=sys.stderr)
                return 1
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            results.append(result)
            accuracy = 100 * result["test_accuracy"]
            seconds = result["fit_seconds"]
            print(
                f"{recipe_name:<10} seed {seed}: {accuracy:.2f}% in {seconds:.1f} s",
                flush=True,
            )

    command = "python benchmarks/benchmark.py " + " ".join(sys.argv[1:])
    report = summarise(results, machine_description(), command.strip())
    arguments.output.write_text(report, encoding="utf-8")
    arguments.output.with_suffix(".json").write_text(
        json.dumps({"machine": machine_description(), "runs": results}, indent=2),
        encoding="utf-8",
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`fmnist bench` (every model file measured side by side) and `fmnist bundle` (a Raspberry Pi bundle)."""

from __future__ import annotations

from pathlib import Path

import typer

from fmnist.cli.common import ModelOption, print_rich, stdout_json
from fmnist.core.errors import UsageError, escaped


def register(app: typer.Typer) -> None:
    app.command()(bench)
    app.command("bundle")(bundle_cmd)


def bundle_cmd(
    model: str | None = ModelOption,
    out: Path = typer.Option(Path("dist/fmnist-pi"), "--out", "-o", file_okay=False,
                             help="The bundle folder; a .tar.gz of it is written beside it."),
    sample: Path | None = typer.Option(None, "--sample", exists=True, dir_okay=False,
                                       help="The photo the self-test classifies (default: a sample garment); "
                                            "for a model of your own classes, one of your photos."),
    wheel: Path | None = typer.Option(None, "--wheel", exists=True, dir_okay=False,
                                      help="The fmnist wheel to ship (default: built from this checkout, or packed "
                                           "from the installed fmnist)."),
) -> None:
    """Make a folder and .tar.gz to copy to a Raspberry Pi: model, pinned requirements, the fmnist wheel,
    install.sh, a self-test and a systemd unit running `fmnist live --no-display --serve 0.0.0.0:8080`.

    It works from a checkout or an installed package. --out must be new or an earlier bundle holding only the
    files it wrote, unchanged: any other folder, or a file of yours or an edit in it, is refused untouched (exit
    2), and a failed build leaves an earlier bundle as it was.

    Example: fmnist bundle --out dist/fmnist-pi   (the shipped photo model; --model edge for the 28x28 one)

    Example: fmnist bundle --model runs/mine/model.int8.onnx --sample my-photos/mug/1.jpg
    """
    from fmnist.deploy.bundle import bundle

    archive = bundle(model, out, sample, wheel)
    typer.echo(f"wrote {out}/ and {archive}; on the Pi: tar xzf {archive.name} && {out.name}/install.sh")


def int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UsageError(f"{option} takes positive whole numbers separated by commas, e.g. 1,2,4; got {text!r}")
    return values


def bench(
    models: list[str] | None = typer.Argument(None, help="Model files (.onnx, .tflite, .keras) or shipped models' "
                                                          "names (photo, edge). Default: the shipped models plus "
                                                          "every export in --run."),
    run_dir: Path | None = typer.Option(None, "--run", file_okay=False, help="A run folder whose exports to add."),
    threads: str = typer.Option("1,2", "--threads", help="Thread counts to try, e.g. 1,2,4."),
    batch: str = typer.Option("1,64", "--batch", help="Batch sizes: latency at 1, throughput at the largest."),
    iterations: int = typer.Option(1000, "--iterations", min=10, help="Timed batch-1 runs per row, after warm-up."),
    rounds: int = typer.Option(10, "--rounds", min=1, help="Rounds in which the rows take turns, each with its "
                                                           "share of --iterations, so all are timed side by side."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine, rows and advice as JSON."),
    plot_to: Path | None = typer.Option(None, "--plot", dir_okay=False,
                                        help="Draw accuracy vs latency to this new PNG (needs fmnist[train]); "
                                             "never written over a file, even one made while bench runs."),
) -> None:
    """Measure every model file: size, test accuracy, cold start, batch-1 p50/p90/p99, throughput, peak RSS.

    Each row runs in its own process, so cold start and memory are that model's alone. The rows take turns
    in --rounds rounds, so a slow spell of the machine hits them alike and their ratios hold. The photos column
    is the share of validation photos a model's card records it got right. The last line says which file to
    deploy on this machine for photos (and the fastest, when another), and whether int8 pays here.

    Example: fmnist bench photo edge --threads 1,2,4

    Example: fmnist bench --run runs/edge --threads 1,2,4
    """
    from fmnist.deploy.bench.run import BenchConfig, check_plot, find_models, plot, render
    from fmnist.deploy.bench.run import bench as run_bench

    check_plot(plot_to)
    cfg = BenchConfig(find_models(list(models or []), run_dir), int_list(threads, "--threads"),
                      int_list(batch, "--batch"), iterations, rounds)
    report = run_bench(cfg, progress=lambda text: typer.echo(escaped(text), err=True))  # names escaped
    if as_json:
        stdout_json(report.to_json())
    else:
        print_rich(*render(report))
    if plot_to:  # after the figures are out: a name taken while bench timed loses the plot, never the timing
        plot(report, plot_to)

"""`fmnist bench` (every model file measured side by side) and `fmnist bundle` (a Raspberry Pi bundle)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from fmnist.cli.app import add_command
from fmnist.cli.common import (
    ModelOption,
    ends_when_stopped,
    old_model_argument,
    print_rich,
    stdout_json,
    usable_threads,
)
from fmnist.cli.deprecated import counts, either
from fmnist.core.errors import escaped
from fmnist.runtime.shipped import SHIPPED


class Service(str, enum.Enum):
    live = "live"
    serve = "serve"


def register(app: typer.Typer) -> None:
    add_command(app, bench)
    add_command(app, bundle_cmd, "bundle")


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
    service: Service = typer.Option(Service.live, "--service",
                                    help="What the systemd unit runs: live (camera 0, its preview on port 8080) or "
                                         "serve (the classify API on port 8000)."),
) -> None:
    """Make a folder and .tar.gz to copy to a Raspberry Pi: model, pinned requirements, the fmnist wheel,
    install.sh, a self-test and a systemd unit running `fmnist live --no-display --serve 0.0.0.0:8080` (or, with
    --service serve, `fmnist serve --host 0.0.0.0 --port 8000`).

    It works from a checkout or an installed package. --out must be new or an earlier bundle holding only the
    files it wrote, unchanged: any other folder, or a file of yours or an edit in it, is refused untouched (exit
    2), and a failed build leaves an earlier bundle as it was; Ctrl-C or SIGTERM stops it with nothing of its own
    left behind (exit 130).

    The shipped photo model (--model edge for the 28x28 one):

    Example: fmnist bundle --out dist/fmnist-pi

    A model of your own classes, its self-test on one of your photos:

    Example: fmnist bundle --model runs/mine/model.int8.onnx --sample mug.jpg
    """
    from fmnist.core.signals import stop_as_interrupt
    from fmnist.deploy.bundle import StoppedOnceWritten, bundle

    try:
        with stop_as_interrupt():
            archive = bundle(model, out, sample, wheel, service.value, lambda line: typer.echo(line, err=True))
    except StoppedOnceWritten as e:  # it came as the finished bundle was put in place, and waited for that
        typer.echo(f"interrupted once the bundle was whole: {_wrote(out, e.archive)}", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the build's own files are gone
        typer.echo(f"interrupted: nothing was written ({escaped(out)} is as it was)", err=True)
        raise typer.Exit(130) from None
    typer.echo(_wrote(out, archive))


def _wrote(out: Path, archive: Path) -> str:
    """What bundle wrote and what to run on the Pi, names escaped (a newline in --out cannot forge a line)."""
    return (f"wrote {escaped(out)}/ and {escaped(archive)}; on the Pi: tar xzf {escaped(archive.name)} && "
            f"{escaped(out.name)}/install.sh")


THREADS, BATCHES = [1, 2], [1, 64]  # bench's defaults


def bench(
    models: list[str] | None = typer.Option(None, "--model", "-m", metavar="NAME|PATH",
                                            help="A model file (.onnx, .tflite, .keras) or a shipped model's name "
                                                 f"({', '.join(SHIPPED)}), once per model. Default: the shipped "
                                                 "models plus every export in --run."),
    run_dir: Path | None = typer.Option(None, "--run", file_okay=False, help="A run folder whose exports to add."),
    threads: list[str] | None = typer.Option(None, "--threads", metavar="N", callback=counts("--threads"),
                                             help="onnxruntime threads, once per count to try (default "
                                                  f"{' and '.join(map(str, THREADS))})."),
    batch_size: list[str] | None = typer.Option(None, "--batch-size", metavar="N", callback=counts("--batch-size"),
                                                help="Batch sizes, once each: latency at 1, throughput at the "
                                                     f"largest (default {' and '.join(map(str, BATCHES))})."),
    iterations: int = typer.Option(1000, "--iterations", metavar="N", min=10,
                                   help="Timed batch-1 runs per row, after warm-up."),
    rounds: int = typer.Option(10, "--rounds", metavar="N", min=1,
                               help="Rounds in which the rows take turns, each with its share of --iterations, so "
                                    "all are timed side by side."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine, rows and advice as JSON."),
    plot_to: Path | None = typer.Option(None, "--plot", dir_okay=False,
                                        help="Draw accuracy vs latency to this new PNG (needs fmnist[train]); "
                                             "never written over a file, even one made while bench runs."),
    old_models: list[str] | None = old_model_argument("bench", many=True),
    old_batch: list[str] | None = typer.Option(None, "--batch", hidden=True,
                                               callback=counts("--batch-size", old="--batch")),
) -> None:
    """Measure every model file: size, test accuracy, cold start, batch-1 p50/p90/p99, throughput, peak RSS.

    Each row runs in its own process, so cold start and memory are that model's alone. The rows take turns
    in --rounds rounds, so a slow spell of the machine hits them alike and their ratios hold. The photos column
    is the share of validation photos a model's card records it got right, strictly. The last line says which file to
    deploy on this machine for photos (and the fastest, when another), and whether int8 pays here.

    Example: fmnist bench --model photo --model edge --threads 1 --threads 4

    Example: fmnist bench --run runs/edge
    """
    from fmnist.deploy.bench.run import BenchConfig, check_plot, find_models, plot, render
    from fmnist.deploy.bench.run import bench as run_bench

    check_plot(plot_to)
    counts_used = list(dict.fromkeys(usable_threads(t) for t in threads)) if threads else THREADS  # capped, once each
    cfg = BenchConfig(find_models(either(models, old_models, "--model") or [], run_dir), counts_used,
                      either(batch_size, old_batch, "--batch-size") or BATCHES, iterations, rounds)
    with ends_when_stopped("interrupted: no figures (a bench reports only whole rounds)"):  # its workers ended
        report = run_bench(cfg, progress=lambda text: typer.echo(escaped(text), err=True))  # names escaped
    if as_json:
        stdout_json(report.to_json())
    else:
        print_rich(*render(report))
    if plot_to:  # after the figures are out: a name taken while bench timed loses the plot, never the timing
        plot(report, plot_to)

"""The runtime commands: classify and live (registered on the app in fmnist.cli).

Like the rest of the CLI, each command parses its options, makes one library call and prints the result;
nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import typer

from fmnist.cli.app import add_command
from fmnist.cli.common import ModelOption, only_with, stdout_json, usable_threads
from fmnist.cli.deprecated import either, renamed
from fmnist.core.errors import DependencyError, FmnistError, SourceError, UsageError, escaped
from fmnist.core.jsonsafe import dumps
from fmnist.core.verbosity import verbose

COLLECT = "Collect photos for your own classes"
SCALE = "On a Ray cluster"


def register(app: typer.Typer) -> None:
    add_command(app, classify)
    add_command(app, live)
    add_command(app, serve)


def classify(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., metavar="INPUTS", show_default=False,
                                       help="Image files, folders (searched recursively) or globs; with --ray, also "
                                            "URIs pyarrow reads (s3://BUCKET/PREFIX, gs://...)."),
    model: str | None = ModelOption,
    top: int = typer.Option(3, "--top", "-k", metavar="K", min=1, max=10, help="How many guesses to show per image."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line on stdout."),
    save: Path | None = typer.Option(None, "--save", file_okay=False,
                                     help="Write annotated copies here (label, box, the model's input) as "
                                          "NAME.jpg, or NAME-2.jpg if taken: no file is ever replaced."),
    raw: bool = typer.Option(False, "--raw", help="Inputs already look like the model's input: skip the cut-out "
                                                  "(a 28x28 model: grey, the object bright on black; only resized) "
                                                  "or the centre crop (the photo tier: the whole picture resized)."),
    threads: int = typer.Option(0, "--threads", metavar="N", min=0,
                                help="Photos classified at once, each by a worker process on a one-thread "
                                     "onnxruntime session (0: one per core; 1: this process only). Fewer than 64 "
                                     "photos are classified in this process. With --ray: Ray actors at most (0: "
                                     "one per CPU of the cluster)."),
    labels: str | None = typer.Option(None, "--labels", metavar="NAMES",
                                      help="One name per model output (2 to 50), comma-separated, for a model "
                                           "without fmnist metadata."),
    threshold: float | None = typer.Option(None, "--threshold", metavar="X", min=0.0, max=1.0,
                                           help="Below this top probability, answer 'not sure' (default: the "
                                                "model's own, chosen on validation photos; see fmnist info)."),
    ray_at: str | None = typer.Option(None, "--ray", metavar="ADDRESS", rich_help_panel=SCALE,
                                      help="Classify on Ray Data: local (a Ray on this machine), auto (the cluster "
                                           "this machine joined with ray start) or ray://HOST:PORT; the lines come "
                                           "as with --json (docs/scale.md). Needs pip install 'fmnist[ray]'."),
    out: str | None = typer.Option(None, "--out", metavar="DIR|URI", rich_help_panel=SCALE,
                                   help="With --ray: write the rows as Parquet here (a new folder, or an empty "
                                        "s3:// prefix) instead of lines on stdout."),
) -> None:
    """Classify photos with the lightweight runtime (onnxruntime + OpenCV, no TensorFlow).

    Each photo is prepared as its model was trained (read from the model's metadata): for a colour model (the
    shipped photo model, the default, or your own photo tier) the centre square is taken in colour at the model's
    size; for a 28x28 model (--model edge, or your own classes' default tier) the largest object is cut out,
    turned grey and bright-on-black and fitted to 28x28. Below the model's threshold, or when there is nothing to
    see (a blank picture; no object the cut-out can find), the answer is "not sure (maybe Coat 41%)". Bad
    inputs are reported and skipped; the exit code is then 1.

    Example: fmnist classify examples/photos --save annotated/

    Example: fmnist classify s3://shop/photos --ray auto --out s3://shop/labels
    """
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.workers import classify_all

    only_with(ctx, {"out": "--out"}, ray_at is not None, "with --ray")
    if ray_at is not None and save:
        raise UsageError("--save writes annotated copies on this machine, which --ray does not; leave it out")
    if ray_at is None:
        _no_uris(inputs)
    names = [name.strip() for name in labels.split(",")] if labels else None
    classifier = Classifier(model, threads=1, labels=names, threshold=threshold)
    if classifier.note:
        typer.echo(classifier.note, err=True)
    if ray_at is not None:
        _on_ray(classifier, inputs, ray_at, out, dict(labels=names, threshold=threshold, top=top, raw=raw),
                threads)  # a cluster's CPUs, not this machine's cores
        return
    outcomes = classify_all(classifier, inputs, usable_threads(threads), top=top, raw=raw, save=save, labels=names)
    tally = _printed(outcomes, as_json)
    if save and tally.saved:
        typer.echo(f"annotated copies in {escaped(save)}/", err=True)
    tally.check(inputs, save, as_json)


def _no_uris(inputs: list[str]) -> None:
    """Refuse s3://… and the like (UsageError) without --ray: this machine's files only, unless one is so named."""
    from fmnist.runtime.inputs import is_uri

    uri = next((name for name in inputs if is_uri(name) and not os.path.lexists(name)), None)
    if uri is not None:
        raise UsageError(f"{uri} is a URI: classify reads this machine's files, folders and globs, and with --ray "
                         "the URIs pyarrow reads (s3://, gs://, hdfs://; docs/scale.md)")


def _on_ray(classifier: Any, inputs: list[str], address: str, out: str | None, options: dict[str, Any],
            actors: int) -> None:
    """classify on Ray Data (fmnist.deploy.on_ray): the lines on stdout, or the rows as Parquet in --out. Ray prints
    its own messages (a task retried, an actor ended) to sys.stdout: they go to stderr, the lines alone to stdout."""
    try:
        from fmnist.deploy import on_ray
    except ImportError as e:
        raise DependencyError(f"--ray needs Ray Data ({e.name} is missing): pip install 'fmnist[ray]'") from None
    why = on_ray.taken(out) if out is not None else None
    if why:
        raise UsageError(why)  # before a cluster starts
    if (address == "auto" or address.startswith("ray://")) and not verbose():  # Ray may wait long for a cluster
        typer.echo(f"connecting to the Ray cluster at {address} (fmnist --verbose shows Ray's own lines)", err=True)
    lines = sys.stdout
    with redirect_stdout(sys.stderr):
        started = on_ray.connect(address)
        try:
            labels = options.pop("labels")
            rows = on_ray.rows(classifier, inputs, on_ray.Options(classifier.path.name,
                                                                   tuple(labels) if labels else None, **options),
                               actors, progress=out is not None and sys.stderr.isatty())  # the lines have their own bar
            if out is None:
                shown = sys.stderr.isatty() and not lines.isatty()  # as Bar judges it, stdout being stderr here
                _printed(on_ray.as_outcomes(rows), True, lambda obj: lines.write(dumps(obj) + "\n"),
                         shown).check(inputs, None, True)
                return
            written, failed = _written(on_ray, rows, out)
            typer.echo(f"{written} rows written to {escaped(out)}", err=True)
            if failed:
                raise FmnistError(f"{failed} of {written} inputs could not be classified (their rows say why)")
        finally:
            if started:
                on_ray.disconnect()


def _written(on_ray: Any, rows: Any, out: str) -> tuple[int, int]:
    """The rows written to --out; Ctrl-C or SIGTERM stops the job with nothing written (a local folder is renamed
    into place only once whole; a URI prefix may hold the files written so far), exit 130."""
    from fmnist.core.signals import stop_as_interrupt

    try:
        with stop_as_interrupt():
            return on_ray.write(rows, out)
    except KeyboardInterrupt:
        where = "nothing written" if not on_ray.is_uri(out) else "the files written so far are left there"
        typer.echo(f"interrupted: {where} ({escaped(out)})", err=True)
        raise typer.Exit(130) from None


def _printed(outcomes: Any, as_json: bool, write: Any = stdout_json, shown: bool | None = None) -> Any:
    """Each outcome printed as it comes (a JSON line, or a line of text; what went wrong on stderr), a progress bar
    on a terminal's stderr once the run is long (Bar's `shown`); the Tally. Ctrl-C or SIGTERM stops the run (its
    workers too) and says how many were written (exit 130)."""
    from contextlib import closing

    from fmnist.cli.progress import Bar
    from fmnist.core.signals import stop_as_interrupt
    from fmnist.runtime.batch import Tally

    tally = Tally()
    try:
        with stop_as_interrupt(), closing(outcomes), Bar("classified", shown) as bar:
            for outcome in outcomes:
                _print_outcome(outcome, as_json, write)
                tally.add(outcome)
                bar.advance()
    except KeyboardInterrupt:
        typer.echo(f"interrupted: {tally.done} photo{'s' if tally.done != 1 else ''} written", err=True)
        raise typer.Exit(130) from None
    return tally


def _print_outcome(outcome: Any, as_json: bool, write: Any) -> None:
    if as_json:
        write(outcome.to_json())
    elif outcome.error:
        typer.echo(f"skipped {escaped(outcome.error)}", err=True)
    else:
        typer.echo(outcome.text())
    if outcome.save_error:
        typer.echo(f"not saved: {escaped(outcome.save_error)}", err=True)


def live(
    ctx: typer.Context,
    source: str = typer.Option("0", "--source", "-s", metavar="SOURCE",
                               help="Camera index or /dev/videoN, a video file, or a stream URL (rtsp://, http://, "
                                    "tcp://)."),
    model: str | None = ModelOption,
    roi: str | None = typer.Option(None, "--roi", metavar="X,Y,W,H",
                                   help="Region to classify, in pixels (default: a centred square guide box); "
                                        "the model also sees 10 % of its side beyond each edge."),
    no_display: bool = typer.Option(False, "--no-display", help="Never open a window (automatic without a screen)."),
    record: Path | None = typer.Option(None, "--record", dir_okay=False,
                                       help="Write the annotated frames to this .mp4 or .avi."),
    serve_at: str | None = typer.Option(None, "--serve", metavar="[HOST:]PORT",
                                        help="A preview page at http://HOST:PORT/ (stream, label, top 3, "
                                             "'not sure', age), JSON at /status (host 127.0.0.1 unless given)."),
    max_frames: int | None = typer.Option(None, "--max-frames", metavar="N", min=1,
                                          help="Stop after this many frames."),
    smooth: int = typer.Option(5, "--smooth", metavar="K", min=1,
                               help="Average the probabilities over the last K frames."),
    threshold: float | None = typer.Option(None, "--threshold", metavar="X", min=0.0, max=1.0,
                                           help="Below this smoothed probability, say 'not sure' (default: the "
                                                "model's own, as for classify)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per frame on stdout: frame, label, score, "
                                                       "fps, ms, source_frame, age_ms."),
    threads: int = typer.Option(1, "--threads", metavar="N", min=0, help="onnxruntime threads (0: one per core)."),
    realtime: bool = typer.Option(False, "--realtime", help="Play a video file at its own fps and, like a "
                                                            "camera, classify only the newest frame."),
    collect: Path | None = typer.Option(None, "--collect", file_okay=False, rich_help_panel=COLLECT,
                                        help="Save what the model sees (the guide box and its margin) as "
                                             "`DIR/<label>/*.jpg`, to train your own classes "
                                             "(docs/your-own-classes.md)."),
    collect_keys: str | None = typer.Option(None, "--collect-labels", metavar="NAMES", rich_help_panel=COLLECT,
                                            help="With --collect, in a window: the labels, comma-separated; keys "
                                                 "1-9 pick one, space saves."),
    collect_label: str | None = typer.Option(None, "--collect-label", metavar="NAME", rich_help_panel=COLLECT,
                                             help="With --collect, headless: save under this label."),
    every: int = typer.Option(5, "--every", metavar="N", min=1, rich_help_panel=COLLECT,
                              help="With --collect, headless: save every Nth frame."),
    old_labels: str | None = typer.Option(None, "--labels", hidden=True,
                                          callback=renamed("--labels", "--collect-labels")),
    old_label: str | None = typer.Option(None, "--label", hidden=True,
                                         callback=renamed("--label", "--collect-label")),
) -> None:
    """Classify webcam, video-file or stream frames live, in a window or headless.

    In a window: q or Esc quits, s saves a snapshot. Without a screen (or with --no-display) a status line
    goes to stderr every 2 s. The end of a file, --max-frames or Ctrl-C end the run with a summary.

    A camera or stream is read by its own thread that keeps only the newest frame, so the label never lags
    behind the scene; the frames skipped that way are counted. A file is read frame by frame unless --realtime.

    Example: fmnist live --source 0 --serve 8080 --record session.mp4

    Collect photos for your own classes: in a window, --collect-labels names the keys 1-9 and space saves the
    guide box and its margin; headless, --collect-label saves every Nth frame (--every) until --max-frames or Ctrl-C.

    Example: fmnist live --collect my-photos --collect-labels mug,cup,bowl

    Example: fmnist live --collect my-photos --collect-label mug --every 10
    """
    from fmnist.runtime.video.collect import collect_labels
    from fmnist.runtime.video.live import LiveConfig
    from fmnist.runtime.video.step import parse_roi

    only_with(ctx, {"every": "--every"}, collect is not None, "with --collect DIR (headless collection)")
    cfg = LiveConfig(source=source, model=model, roi=parse_roi(roi) if roi else None, display=not no_display,
                     record=record, max_frames=max_frames, smooth=smooth, threshold=threshold,
                     threads=usable_threads(threads), realtime=realtime, collect=collect,
                     collect_labels=collect_labels(collect, either(collect_keys, old_labels, "--collect-labels"),
                                                    either(collect_label, old_label, "--collect-label")),
                     every=every)

    def emit(result: Any) -> None:
        stdout_json(result.to_json())

    summary = _run_live(cfg, serve_at, emit if as_json else None)
    typer.echo(summary.text(record), err=True)
    if collect:
        typer.echo(summary.collected_text(collect), err=True)
    if summary.source_error or summary.recording_error:  # what stopped the source first: the recording follows
        raise SourceError(summary.source_error or summary.recording_error)


def _run_live(cfg: Any, serve_at: str | None, emit: Any) -> Any:
    """The live loop, its preview served at --serve's address if given."""
    from fmnist.runtime.video.live import run as run_live

    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    if not serve_at:
        return run_live(cfg, emit, on_start=say)
    from fmnist.runtime.video.http.served import Address, serve_live
    from fmnist.runtime.video.http.server import parse_address

    return serve_live(cfg, Address(*parse_address(serve_at), "--serve"), emit=emit, say=say)


def serve(
    model: str | None = ModelOption,
    host: str = typer.Option("127.0.0.1", "--host", metavar="HOST",
                             help="The address to answer on: 127.0.0.1 this machine only, 0.0.0.0 every network."),
    port: int = typer.Option(8000, "--port", metavar="PORT", min=0, max=65535, help="The port (0: any free one)."),
    threads: int = typer.Option(0, "--threads", metavar="N", min=0,
                                help="Images classified at once, each on a one-thread onnxruntime session (0: one "
                                     "per core)."),
    threshold: float | None = typer.Option(None, "--threshold", metavar="X", min=0.0, max=1.0,
                                           help="The default 'not sure' threshold (default: the model's own); "
                                                "?threshold= overrides it per request."),
    source: str | None = typer.Option(None, "--source", "-s", metavar="SOURCE",
                                      help="Also run live on this camera, video file or stream, its preview at "
                                           "/live on the same port."),
) -> None:
    """Serve the classifier over HTTP: POST an image to /classify, get classify --json's answer as JSON.

    POST /classify takes one image's bytes (image/* or application/octet-stream) or a multipart form of files;
    ?top=K and ?threshold=X are classify's options. GET / is a page to drop a photo on, GET /health names the
    model, GET /openapi.json describes the API. A body over 20 MB is refused (413), as is an image over 100 MP;
    16 requests are served at once (more get 503; /health never does). Ctrl-C or SIGTERM stops it.

    From curl: curl -F file=@shirt.jpg localhost:8000/classify (docs/commands.md has Python too). With --source,
    the live page and its stream are served beside the API, at /live; when the source ends (a video file), the
    API serves on until Ctrl-C or SIGTERM.

    Example: fmnist serve --host 0.0.0.0 --port 8000
    """
    from fmnist.runtime.video.http.served import Address, Api, serve_api, serve_live

    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    api, address = Api(model, usable_threads(threads), threshold), Address(host, port, "--port")
    if source is None:
        typer.echo(f"stopped by {serve_api(api, address, say)}", err=True)
        return
    from fmnist.runtime.video.live import LiveConfig

    cfg = LiveConfig(source=source, model=model, display=False, threshold=threshold, realtime=True)  # a file: played
    summary = serve_live(cfg, address, api, say=say)  # its summary said when the source ended, if it did
    typer.echo(summary.text() if summary.interrupted else f"stopped by {summary.stopped_by}", err=True)

"""The runtime commands: classify and live (registered on the app in fmnist.cli).

Like the rest of the CLI, each command parses its options, makes one library call and prints the result;
nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fmnist.cli.common import ModelOption, stdout_json
from fmnist.core.errors import SourceError, UsageError, escaped


def register(app: typer.Typer) -> None:
    app.command()(classify)
    app.command()(live)


def usable_threads(threads: int) -> int:
    """--threads, at most one per core: more only wait for a core, and under a process limit the threads that
    cannot be started used to hang the run. Says so once on stderr when it lowers the count."""
    from fmnist.core import session  # onnxruntime: not for `fmnist --help`

    used = session.usable_threads(threads)
    if used != threads:
        typer.echo(f"note: --threads {threads} is more than the {used} cores here; using {used}", err=True)
    return used


def classify_failures(failed: int, unsaved: int, done: int, save: Path | None) -> str:
    """The last line of a classify run in which something went wrong: how many inputs were not classified, and how
    many classified photos have no annotated copy."""
    parts = [f"{failed} of {done} inputs could not be classified"] if failed else []
    if unsaved:
        parts.append(f"{unsaved} classified photo{'s' if unsaved > 1 else ''} could not be saved into {save}")
    return "; ".join(parts) + " (listed above)"


def classify(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or globs."),
    model: str | None = ModelOption,
    top: int = typer.Option(3, "--top", "-k", min=1, max=10, help="How many guesses to show per image."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line on stdout."),
    save: Path | None = typer.Option(None, "--save", file_okay=False,
                                     help="Write annotated copies here (label, box, the model's input) as "
                                          "NAME.jpg, or NAME-2.jpg if taken: no file is ever replaced."),
    raw: bool = typer.Option(False, "--raw", help="Inputs already look like the model's input: skip the cut-out "
                                                  "(a 28x28 model: grey, the object bright on black; only resized) "
                                                  "or the centre crop (the photo tier: the whole picture resized)."),
    threads: int = typer.Option(1, "--threads", min=0, help="onnxruntime threads (0: one per core)."),
    labels: str | None = typer.Option(None, "--labels", help="One name per model output (2 to 50), "
                                                            "comma-separated, for a model without fmnist metadata."),
    threshold: float | None = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                           help="Below this top probability, answer 'not sure' (default: the "
                                                "model's own, chosen on validation photos; see fmnist info)."),
) -> None:
    """Classify photos with the lightweight runtime (onnxruntime + OpenCV, no TensorFlow).

    Each photo is prepared as its model was trained (read from the model's metadata): for a colour model (the
    shipped photo model, the default, or your own photo tier) the centre square is taken in colour at the model's
    size; for a 28x28 model (--model edge, or your own classes' default tier) the largest object is cut out,
    turned grey and bright-on-black and fitted to 28x28. Below the model's threshold, or when there is nothing to
    see (a blank picture; no object the cut-out can find), the answer is "not sure (maybe Coat 41%)". Bad
    inputs are reported and skipped; the exit code is then 1.

    Example: fmnist classify examples/photos --save annotated/
    """
    from fmnist.core.errors import FmnistError
    from fmnist.runtime.batch import classify_inputs, label_text
    from fmnist.runtime.classifier import Classifier
    from fmnist.runtime.image import IMAGE_EXTENSIONS

    classifier = Classifier(model, threads=usable_threads(threads), labels=labels.split(",") if labels else None,
                            threshold=threshold)
    if classifier.note:
        typer.echo(classifier.note, err=True)
    done = failed = unsaved = 0
    for outcome in classify_inputs(classifier, inputs, top=top, raw=raw, save=save):
        done += 1
        if outcome.error:
            failed += 1
            if as_json:
                stdout_json({"input": str(outcome.path), "error": outcome.error})
            else:
                typer.echo(f"skipped {escaped(outcome.error)}", err=True)
            continue
        result = outcome.result
        assert result is not None
        if as_json:
            top_k = [{"label": g.label, "index": g.index, "score": round(g.score, 4)} for g in result.top]
            stdout_json({"input": str(outcome.path), **top_k[0], "sure": result.sure,
                         "threshold": classifier.threshold, "top": top_k, "ms": round(result.ms, 2),
                         "low_contrast": result.prepared.low_contrast, "empty": result.prepared.empty})
        else:
            others = "  ".join(f"{g.label} {g.score:.0%}" for g in result.top[1:])
            typer.echo(f"{escaped(outcome.path)}: {label_text(result)}  {others}  [{result.ms:.1f} ms]")
        if outcome.save_error:
            unsaved += 1
            typer.echo(f"not saved: {escaped(outcome.save_error)}", err=True)
    if done == 0:
        raise FmnistError(f"no images found in {' '.join(inputs)} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if save and done > failed + unsaved:
        typer.echo(f"annotated copies in {escaped(save)}/", err=True)
    if failed or unsaved:
        raise FmnistError(classify_failures(failed, unsaved, done, save))


def live(
    source: str = typer.Option("0", "--source", "-s", help="Camera index or /dev/videoN, a video file, or a "
                                                           "stream URL (rtsp://, http://, tcp://)."),
    model: str | None = ModelOption,
    roi: str | None = typer.Option(None, "--roi", help="Region to classify, x,y,w,h in pixels "
                                                       "(default: a centred square guide box)."),
    no_display: bool = typer.Option(False, "--no-display", help="Never open a window (automatic without a screen)."),
    record: Path | None = typer.Option(None, "--record", dir_okay=False,
                                       help="Write the annotated frames to this .mp4 or .avi."),
    serve_at: str | None = typer.Option(None, "--serve", metavar="[HOST:]PORT",
                                        help="A preview page at http://HOST:PORT/ (stream, label, top 3, "
                                             "'not sure', age), JSON at /status (host 127.0.0.1 unless given)."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    smooth: int = typer.Option(5, "--smooth", min=1, help="Average the probabilities over the last K frames."),
    threshold: float | None = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                           help="Below this smoothed probability, say 'not sure' (default: the "
                                                "model's own, as for classify)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per frame on stdout: frame, label, score, "
                                                       "fps, ms, source_frame, age_ms."),
    threads: int = typer.Option(1, "--threads", min=0, help="onnxruntime threads (0: one per core)."),
    realtime: bool = typer.Option(False, "--realtime", help="Play a video file at its own fps and, like a "
                                                            "camera, classify only the newest frame."),
    collect: Path | None = typer.Option(None, "--collect", file_okay=False,
                                        help="Save guide-box crops as `DIR/<label>/*.jpg`, to train your own classes "
                                             "(docs/your-own-classes.md)."),
    labels: str | None = typer.Option(None, "--labels", help="With --collect: labels, comma-separated; keys 1-9 "
                                                             "pick one in the window, space saves."),
    label: str | None = typer.Option(None, "--label", help="With --collect, headless: save under this label."),
    every: int = typer.Option(5, "--every", min=1, help="With --collect, headless: save every Nth frame."),
) -> None:
    """Classify webcam, video-file or stream frames live, in a window or headless.

    In a window: q or Esc quits, s saves a snapshot. Without a screen (or with --no-display) a status line
    goes to stderr every 2 s. The end of a file, --max-frames or Ctrl-C end the run with a summary.

    A camera or stream is read by its own thread that keeps only the newest frame, so the label never lags
    behind the scene; the frames skipped that way are counted. A file is read frame by frame unless --realtime.

    Example: fmnist live --source 0 --no-display --serve 8080 --record session.mp4

    Collect photos for your own classes: with a window, --labels names the keys 1-9 and space saves the guide
    box; headless, --label and --every save every Nth frame until --max-frames.

    Example: fmnist live --collect my-photos --labels mug,cup,bowl

    Example: fmnist live --collect my-photos --label mug --every 10 --max-frames 600 --no-display
    """
    from fmnist.runtime.video.collect import parse_labels
    from fmnist.runtime.video.live import LiveConfig
    from fmnist.runtime.video.live import run as run_live
    from fmnist.runtime.video.step import parse_roi

    if (labels or label) and not collect:
        raise UsageError("--labels and --label go with --collect DIR")
    if collect and bool(labels) == bool(label):
        raise UsageError("--collect needs --labels a,b,c (a window, keys 1-9) or --label NAME (headless)")
    cfg = LiveConfig(source=source, model=model, roi=parse_roi(roi) if roi else None, display=not no_display,
                     record=record, serve=serve_at, max_frames=max_frames, smooth=smooth, threshold=threshold,
                     threads=usable_threads(threads), realtime=realtime, collect=collect,
                     collect_labels=tuple(parse_labels(labels or label or "")) if collect else (), every=every)

    def emit(result: Any) -> None:
        stdout_json(result.to_json())

    summary = run_live(cfg, emit if as_json else None, on_start=lambda line: typer.echo(line, err=True))
    histogram = ", ".join(f"{label} {n}" for label, n in summary.labels.most_common())
    stages = ", ".join(f"{k} {v:.2f} ms" for k, v in summary.stage_ms.items())
    typer.echo(f"{'interrupted: ' if summary.interrupted else ''}{summary.frames} frames in {summary.seconds:.1f} s, "
               f"{summary.fps:.1f} fps, {summary.dropped} dropped as stale"
               + "".join(f", {n} {what}" for what, n in summary.scene.items()) + "; "
               f"labels: {histogram or 'none'}; "
               f"per frame: {stages}; label age p50 {summary.age_percentile(50):.1f} ms, "
               f"p95 {summary.age_percentile(95):.1f} ms"
               + (f"; recorded {record}" if record and record.is_file() and not summary.recording_error else "")
               + (f"; stopped by {summary.stopped_by}" if summary.stopped_by.startswith("SIG") else ""), err=True)
    if collect:
        saved = ", ".join(f"{name} {n}" for name, n in summary.collected.items()) or "none"
        typer.echo(f"collected into {collect}: {saved}", err=True)
    if summary.recording_error:
        raise SourceError(summary.recording_error)

"""`fmnist export`: Keras to ONNX and TFLite, every file through the parity gate."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from fmnist.cli.app import add_command
from fmnist.cli.common import DataDir, Json, command_line, ends_when_stopped, print_rich, stdout_json
from fmnist.cli.deprecated import not_both, renamed


def register(app: typer.Typer) -> None:
    add_command(app, export)


INT8 = "int8"
GATE = "The parity gate"


class CalibMethod(str, enum.Enum):
    minmax = "minmax"
    entropy = "entropy"
    percentile = "percentile"


class Activations(str, enum.Enum):
    int8 = "int8"
    uint8 = "uint8"


def export(
    source: Path = typer.Argument(..., metavar="RUN", help="A run folder (holding model.keras) or a .keras file."),
    int8: bool = typer.Option(False, "--int8", help="Also write int8 ONNX and (with TFLite) full-integer TFLite."),
    fp16: bool = typer.Option(False, "--fp16", help="Also write an fp16 TFLite."),
    no_tflite: bool = typer.Option(False, "--no-tflite", help="Write ONNX files only."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False,
                                    help="Output folder (default: next to the model). Files fmnist wrote there "
                                         "are replaced; a file it did not write (or one changed since) is "
                                         "refused before anything is built (exit 2)."),
    as_json: bool = Json,
    data_dir: Path | None = DataDir,
    calib: int = typer.Option(1000, "--calib", metavar="N", min=10, max=60000, rich_help_panel=INT8,
                              help="Images used to calibrate int8: stratified training images (your own "
                                   "classes: at most this many of the run's training photos; percentile and "
                                   "entropy on ONNX: at most 128 photos' worth at 160x160, as they hold every "
                                   "activation in memory)."),
    calib_method: CalibMethod | None = typer.Option(None, "--calib-method", metavar="METHOD", rich_help_panel=INT8,
                                                    help="ONNX int8 calibration: minmax, entropy or percentile "
                                                         "(default: minmax for 28x28 models, percentile for the "
                                                         "photo tier)."),
    no_per_channel: bool = typer.Option(False, "--no-per-channel", rich_help_panel=INT8,
                                        help="One int8 scale per ONNX weight tensor, not per channel."),
    activations: Activations | None = typer.Option(None, "--activations", metavar="TYPE", rich_help_panel=INT8,
                                                   help="ONNX int8 activations: int8 (S8S8) or uint8 (U8S8) "
                                                        "(default: int8 for 28x28 models, uint8 for the photo "
                                                        "tier)."),
    float_convs: int | None = typer.Option(None, "--float-convs", metavar="N", min=0, max=1000, rich_help_panel=INT8,
                                           help="ONNX int8: keep the model's first N convolutions (in graph "
                                                "order) float; the TFLite files are unaffected (default: 0 for "
                                                "28x28 models, 2 for the photo tier, whose full-resolution "
                                                "layers lose the most to int8). Like --calib-method and "
                                                "--activations, choosing it turns off the fallback to other "
                                                "settings when the int8 ONNX fails the gate."),
    search: bool = typer.Option(False, "--search", rich_help_panel=INT8,
                                help="With --int8: try a grid of ONNX quantization settings (activation type, "
                                     "per-channel, calibration; each keeps the --float-convs), gate each, keep the "
                                     "fastest at batch 1."),
    min_agree: float | None = typer.Option(None, "--min-agree", metavar="X", min=0.0, max=1.0, rich_help_panel=GATE,
                                           help="Minimum top-1 agreement with Keras, 0-1 (default 0.999 fp32, "
                                                "0.99 int8/fp16)."),
    max_drop: float | None = typer.Option(None, "--max-drop", metavar="PP", min=0.0, rich_help_panel=GATE,
                                          help="Maximum accuracy drop in percentage points (default 0.5)."),
    old_tflite: bool = typer.Option(False, "--tflite", hidden=True, callback=renamed(
        "--tflite", instead="leave it out: TFLite files are written unless --no-tflite")),
    old_per_channel: bool = typer.Option(False, "--per-channel", hidden=True, callback=renamed(
        "--per-channel", instead="leave it out: int8 weights are per channel unless --no-per-channel")),
) -> None:
    """Export a trained model to ONNX and TFLite; every file must pass the parity gate against Keras.

    Writes model.onnx and model.tflite; --int8 adds model.int8.onnx and model.int8.tflite, --fp16 adds
    model.fp16.tflite. Each file runs on the model's test set (a Fashion-MNIST model: the 10,000 test images; your
    own classes: the photos the run held out) and is kept only if it agrees with Keras.
    Metadata (labels, input spec, parity figures, source hash) is embedded in every file.

    Example: fmnist export runs/edge --int8

    With --search, the fastest int8 ONNX that passes is kept:

    Example: fmnist export runs/edge --int8 --search
    """
    not_both(old_tflite, no_tflite, "--tflite", "--no-tflite")
    not_both(old_per_channel, no_per_channel, "--per-channel", "--no-per-channel")
    from fmnist.core.errors import ParityError
    from fmnist.export.parity import ParityReport, table
    from fmnist.export.pipeline import ExportOptions
    from fmnist.export.pipeline import export as run
    from fmnist.export.search import table as search_table

    opts = ExportOptions(int8=int8, fp16=fp16, tflite=not no_tflite, calib=calib,
                         calib_method=calib_method and calib_method.value, per_channel=not no_per_channel,
                         activations=activations and activations.value, float_convs=float_convs, search=search,
                         min_agree=min_agree, max_drop=max_drop, out=out, data_dir=data_dir, command=command_line())

    def show(report: ParityReport) -> None:
        if as_json:
            return stdout_json(report.to_json())
        if report.int8_search:
            print_rich(search_table(report.int8_search))
        print_rich(table(report))

    try:
        with ends_when_stopped(STOPPED):  # the build's folder is removed
            report = run(source, opts)
    except ParityError as e:  # the table first, with the failing rows and their worst classes
        if isinstance(e.report, ParityReport):
            show(e.report)
        raise
    show(report)


STOPPED = ("interrupted: the files it had checked and put in place are whole; the rest and the parity report were "
           "not written (run the export again)")

"""`fmnist data info` and `fmnist data fetch`: find, check and download the Fashion-MNIST files and the photo set."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from fmnist.cli.app import FmnistGroup, add_command
from fmnist.cli.common import DataDir, Json, only_with, print_rich, stdout_json
from fmnist.cli.deprecated import not_both, renamed
from fmnist.core.errors import escaped

data_app = typer.Typer(cls=FmnistGroup, no_args_is_help=True,
                       help="Find, check and download the Fashion-MNIST IDX files.")


def register(app: typer.Typer) -> None:
    add_command(data_app, data_info, "info")
    add_command(data_app, data_fetch, "fetch")
    app.add_typer(data_app, name="data")


def data_info(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Show where the dataset was found and its class counts (and check every file).

    Example: fmnist data info --data-dir /usr/share/datasets/fashion-mnist
    """
    from rich.table import Table

    from fmnist.data.summary import DataSummary

    summary = DataSummary.read(data_dir)
    if as_json:
        stdout_json(summary.to_json())
        return
    table = Table(title="class counts")
    for column in ("class", "train", "test"):
        table.add_column(column, justify="left" if column == "class" else "right")
    *classes, total = summary.rows()
    for row in classes:
        table.add_row(*row)
    table.add_row(*total, style="bold")
    print_rich(summary.headline(), table)


class Dataset(str, enum.Enum):
    fashion_mnist = "fashion-mnist"
    photos = "photos"


def data_fetch(
    ctx: typer.Context,
    dataset: Dataset | None = typer.Argument(None, metavar="DATASET", show_default=False,
                                      help="fashion-mnist (the default): the four official IDX files; or photos: "
                                           "the clothing photo set (CC0, about 3,800 phone photos in "
                                           "train/validation/test), to learn from and check on real photos."),
    dest: Path | None = typer.Option(None, "--dest", file_okay=False,
                                     help="Where to save the files (default ~/.keras/datasets/fashion-mnist; the "
                                          "photos: clothing-dataset-small beside it)."),
    base_url: str | None = typer.Option(None, "--base-url", metavar="URL", envvar="FMNIST_BASE_URL",
                                        help="Download the IDX files from this mirror instead of the official "
                                             "GitHub copy."),
    skip_md5: bool = typer.Option(False, "--skip-md5",
                                  help="Skip the official MD5 check (for a mirror that recompresses)."),
    timeout: float | None = typer.Option(None, "--timeout", metavar="SECONDS", min=1, show_default=False,
                                         help="Network timeout: how long a read may wait; a download whose last "
                                              "SECONDS bring under 1 KB a second is stopped [default: 30; the "
                                              "photos: 60]."),
    photos_url: str | None = typer.Option(None, "--photos-url", metavar="URL", envvar="FMNIST_PHOTOS_URL",
                                          help="Download the photos' zip from this mirror."),
    old_photos: bool = typer.Option(False, "--photos", hidden=True,
                                    callback=renamed("fmnist data fetch --photos", "fmnist data fetch photos")),
) -> None:
    """Download the four official Fashion-MNIST IDX files, or the clothing photo set, check them, and save them
    where fmnist finds them.

    Example: fmnist data fetch --dest ~/data/fashion-mnist

    The photos, to learn from with fmnist train --photos or fmnist train-own:

    Example: fmnist data fetch photos
    """
    from fmnist.core.signals import stop_as_interrupt

    not_both(old_photos, dataset is Dataset.fashion_mnist, "--photos", "fashion-mnist")
    photos = dataset is Dataset.photos or old_photos
    only_with(ctx, {"base_url": "--base-url", "skip_md5": "--skip-md5"}, not photos,
              "to the Fashion-MNIST files (the photos take --photos-url)")
    only_with(ctx, {"photos_url": "--photos-url"}, photos, "to `fmnist data fetch photos`")
    try:
        with stop_as_interrupt():
            folder = _fetched(photos, dest, base_url, skip_md5, timeout, photos_url)
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing partial was saved (what was in place before is as it was, or wholly "
                   "replaced)", err=True)
        raise typer.Exit(130) from None
    if photos:
        from fmnist.data.fetch_photos import PHOTO_COUNTS

        typer.echo(f"saved and checked the clothing photo set in {escaped(folder)}: "
                   + ", ".join(f"{split}/ {n} photos" for split, n in PHOTO_COUNTS.items()))
        return
    typer.echo(f"saved and checked the four Fashion-MNIST files in {escaped(folder)}")


def _fetched(photos: bool, dest: Path | None, base_url: str | None, skip_md5: bool, timeout: float | None,
             photos_url: str | None) -> Path:
    """The photo set or the four IDX files fetched into `dest`, with a progress bar on a terminal."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    console = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        if photos:
            from fmnist.data.fetch_photos import fetch_photos

            return fetch_photos(dest, photos_url, progress=on_progress, timeout=timeout or 60.0)
        from fmnist.data.fetch import OFFICIAL_MD5, fetch

        return fetch(dest, base_url, None if skip_md5 else OFFICIAL_MD5, on_progress, timeout or 30.0)

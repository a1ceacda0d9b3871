"""Preference rows from tables: parquet files and ``datasets.save_to_disk`` folders.

A ``Dataset`` folder (``dataset_info.json`` and ``state.json``) is read with ``datasets.load_from_disk``;
a ``DatasetDict`` folder holds one such folder per split. A parquet file is read in place by pyarrow (what
``datasets`` reads parquet with; its own loader would first copy the file into its cache). Rows are
numbered from 0, as ``dataset[n]`` numbers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synpo_bench.api.errors import UserError

PARQUET_SUFFIX = ".parquet"


class TableError(ValueError, UserError):
    """A table that cannot be read at all; the message names it."""


def is_dataset_folder(path: Path) -> bool:
    """A folder ``datasets.load_from_disk`` reads as one ``Dataset``."""
    return path.is_dir() and (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def is_dataset_dict_folder(path: Path) -> bool:
    return path.is_dir() and (path / "dataset_dict.json").is_file()


def is_table(path: Path) -> bool:
    """Whether the reader takes ``path`` as a table rather than JSON Lines."""
    return path.suffix.lower() == PARQUET_SUFFIX or is_dataset_folder(path) or is_dataset_dict_folder(path)


def split_folders(path: Path) -> dict[str, Path]:
    """A ``DatasetDict`` folder's splits: name -> its ``Dataset`` folder."""
    return {child.name: child for child in sorted(path.iterdir()) if is_dataset_folder(child)}


def training_split(path: Path) -> Path:
    """The split of a ``DatasetDict`` folder to train on (``--pairs``): the only one, else ``train``, else
    one named with "train" and "pref" (UltraFeedback-binarized's ``train_prefs``), else with "train"."""
    splits = split_folders(path)
    if len(splits) == 1:
        return next(iter(splits.values()))
    for wanted in (
        lambda name: name == "train",
        lambda name: "train" in name and "pref" in name,
        lambda name: "train" in name,
    ):
        chosen = [folder for name, folder in splits.items() if wanted(name.lower())]
        if chosen:
            return chosen[0]
    raise TableError(
        f"{path}: no training split among {', '.join(splits) or 'none'}; save the split to train on alone"
    )


def table_rows(path: Path) -> Iterator[Any]:
    """The rows of a parquet file, a ``Dataset`` folder or a ``DatasetDict`` folder's training split."""
    if path.suffix.lower() == PARQUET_SUFFIX and path.is_file():
        yield from _parquet_rows(path)
        return
    folder = training_split(path) if is_dataset_dict_folder(path) else path
    import datasets  # a second's import, only for data sets saved to disk

    try:
        dataset = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, FileNotFoundError) as error:
        raise TableError(f"cannot read the data set folder {folder}: {error}") from None
    if not isinstance(dataset, datasets.Dataset):
        raise TableError(f"{folder} holds several splits; give one split's folder")
    yield from dataset


def _parquet_rows(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (OSError, ValueError) as error:
        raise TableError(f"cannot read the parquet file {path}: {error}") from None
    for batch in table.iter_batches(batch_size=1024):
        yield from batch.to_pylist()

"""Tidy tables: written atomically, read back unchanged, and checked against their column contracts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.records import EXAMPLE_COLUMNS, read_table, require_columns, write_table


def examples() -> pd.DataFrame:
    return pd.DataFrame({
        "example_id": ["a", "b"], "dataset": ["synthetic"] * 2, "split": ["eval"] * 2,
        "text": ["a great film", "dull"], "words": [["a", "great", "film"], ["dull"]], "n_words": [3, 1],
        "label": [1, 0], "label_name": ["positive", "negative"], "gt_mask": [[0, 1, 0], None],
    })


def test_write_then_read_gives_the_same_table(tmp_path):
    path = write_table(examples(), tmp_path / "deep" / "folder" / "examples.parquet")
    assert path == tmp_path / "deep" / "folder" / "examples.parquet"  # parent folders are made
    back = read_table(path, table="examples", columns=EXAMPLE_COLUMNS)
    assert list(back.columns) == EXAMPLE_COLUMNS
    assert back["words"].map(list).tolist() == [["a", "great", "film"], ["dull"]]
    assert back["gt_mask"].iloc[1] is None and list(back["gt_mask"].iloc[0]) == [0, 1, 0]
    pd.testing.assert_frame_equal(back.drop(columns=["words", "gt_mask"]),
                                  examples().drop(columns=["words", "gt_mask"]))


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "examples.parquet"
    write_table(examples(), path)
    before = path.read_bytes()

    def crash(self, target, **kwargs):
        Path(target).write_bytes(b"PAR1 half a file")  # interrupted halfway through
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(examples().iloc[:1], path)
    assert path.read_bytes() == before  # the old table is intact
    assert [p.name for p in tmp_path.iterdir()] == ["examples.parquet"]  # no temporary file left


def test_a_failed_first_write_leaves_no_file(tmp_path, monkeypatch):
    def crash(self, target, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(examples(), tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_table_says_which_and_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"importance table .*nothing\.parquet does not exist; run the stage"):
        read_table(tmp_path / "nothing.parquet", table="importance")


def test_missing_columns_name_the_table_the_path_and_the_columns(tmp_path):
    path = write_table(examples().drop(columns=["label", "gt_mask"]), tmp_path / "old.parquet")
    with pytest.raises(ValueError) as caught:
        read_table(path, table="examples", columns=EXAMPLE_COLUMNS)
    message = str(caught.value)
    assert "table 'examples'" in message and str(path) in message
    assert "lacks columns ['label', 'gt_mask']" in message
    assert "delete it and rerun" in message


def test_require_columns_passes_a_complete_frame_and_names_no_path_when_none_is_given():
    require_columns(examples(), EXAMPLE_COLUMNS, table="examples")
    with pytest.raises(ValueError, match=r"^table 'examples' lacks columns \['text'\]; it has "):
        require_columns(examples().drop(columns=["text"]), EXAMPLE_COLUMNS, table="examples")


def test_read_without_a_contract_reads_any_table(tmp_path):
    path = write_table(pd.DataFrame({"x": [1, 2]}), tmp_path / "any.parquet")
    assert read_table(path, table="anything")["x"].tolist() == [1, 2]

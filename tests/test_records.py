"""Tidy tables: written atomically, read back unchanged, and checked against their column contracts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.records import EXAMPLE_COLUMNS, ResultCache, read_table, require_columns, write_table


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


def test_a_cached_step_is_read_back_only_when_its_last_table_was_written(tmp_path, monkeypatch):
    """A step killed while writing its tables is not finished; a finished one comes back equal, index kept."""
    cache = ResultCache(tmp_path, {"model": "m1", "seed": 0}, kind="test")
    scores = pd.DataFrame({"score": [0.5, 0.25]}, index=pd.Index(["a", "b"], name="example_id"))
    cost = pd.DataFrame([{"test": "removal", "seconds": 1.5}])
    real = pd.DataFrame.to_parquet

    def dies_on_the_cost_table(frame, path, *args, **kwargs):
        if "cost" in Path(path).name or "cost" in str(path):
            raise KeyboardInterrupt("killed")
        return real(frame, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_parquet", dies_on_the_cost_table)
        with pytest.raises(KeyboardInterrupt):
            cache.put("removal", {"table": scores, "cost": cost})
    assert len(list(tmp_path.glob("removal-*.table.parquet"))) == 1
    assert cache.get("removal", last="cost") is None  # its scores are on disk, its marker is not
    cache.put("removal", {"table": scores, "cost": cost})
    back = cache.get("removal", last="cost")
    assert set(back) == {"table", "cost"}
    pd.testing.assert_frame_equal(back["table"], scores)
    pd.testing.assert_frame_equal(back["cost"], cost)


def test_a_cached_step_is_keyed_by_what_decides_it(tmp_path):
    """Another context (a retrained model), another step or other deciding settings miss; the same hit."""
    table = {"scores": pd.DataFrame({"score": [1.0]})}
    cache = ResultCache(tmp_path, {"model": "m1"}, kind="method")
    cache.put("loo_delete", table, decides={"settings": {"replacement": "delete"}})
    assert cache.get("loo_delete", last="scores", decides={"settings": {"replacement": "delete"}}) is not None
    assert cache.get("loo_delete", last="scores", decides={"settings": {"replacement": "mask"}}) is None
    assert cache.get("loo_mask", last="scores", decides={"settings": {"replacement": "delete"}}) is None
    retrained = ResultCache(tmp_path, {"model": "m2"}, kind="method")
    assert retrained.get("loo_delete", last="scores", decides={"settings": {"replacement": "delete"}}) is None


def test_read_table_can_leave_out_the_provenance_strings_and_still_checks_the_contract(tmp_path):
    """A reader that does not report provenance skips the long JSON columns; the columns it needs are checked."""
    from analysis.provenance import with_provenance
    from analysis.records import PROVENANCE_STRINGS, read_table, write_table

    frame = with_provenance(pd.DataFrame({"example_id": ["a", "b"], "score": [0.5, 0.25]}), dataset="d",
                            split="test", model="m", seed=0, settings={"long": "x" * 1000})
    path = write_table(frame, tmp_path / "t.parquet")
    light = read_table(path, table="importance", columns=["example_id", "score"], exclude=PROVENANCE_STRINGS)
    assert not set(PROVENANCE_STRINGS) & set(light.columns)
    pd.testing.assert_frame_equal(light, frame.drop(columns=list(PROVENANCE_STRINGS)))
    with pytest.raises(ValueError, match="lacks columns"):
        read_table(path, table="importance", columns=["settings"], exclude=PROVENANCE_STRINGS)

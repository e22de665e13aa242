"""Which files ``eval`` scores: literal names with glob characters, symlink cycles, each file once."""

from __future__ import annotations

import os

from shiftnet.engine.paths import resolve_paths


def test_a_literal_path_with_brackets_is_itself(tmp_path):
    odd = tmp_path / "run[1]" / "final.safetensors"
    odd.parent.mkdir()
    odd.write_bytes(b"x")
    assert resolve_paths([str(odd)]) == [odd]
    assert resolve_paths([str(odd.parent)]) == [odd]


def test_recursive_globs_do_not_follow_symlinked_folders_and_name_each_file_once(tmp_path):
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "model.t7").write_bytes(b"x")
    os.symlink(runs, runs / "a" / "loop")  # a cycle: runs/a/loop -> runs
    os.symlink(runs / "a", tmp_path / "alias")
    found = resolve_paths([f"{runs}/**/*.t7", str(runs / "a" / "model.t7"), f"{tmp_path}/alias/*.t7"])
    assert found == [runs / "a" / "model.t7"]
    assert resolve_paths([str(runs)]) == [runs / "a" / "model.t7"]  # a folder without run files: its checkpoints

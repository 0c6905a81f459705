"""A save is complete only once its marker is written last; a folder being rewritten is incomplete even though an
earlier save's files are all still there (the rule for folders saved before markers existed must not see them)."""
import json

from geollava.models.checkpoint import CONFIG_FILE, PROMPT_FILE, is_complete, mark_complete, mark_incomplete


def a_legacy_save(folder):
    folder.mkdir(parents=True)
    for name in (PROMPT_FILE, CONFIG_FILE, "adapter_model.safetensors"):
        (folder / name).write_text("x")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    return folder


def test_a_folder_being_rewritten_is_incomplete_until_marked_again(tmp_path):
    folder = a_legacy_save(tmp_path / "checkpoint-4")
    assert is_complete(folder)  # saved before markers: every file a save writes is there
    mark_complete(folder, 4)
    assert is_complete(folder)
    mark_incomplete(folder)  # a new save (or a new run into the folder) begins: the old files are stale
    assert not is_complete(folder)
    mark_complete(folder, 8)
    assert is_complete(folder) and json.loads((folder / "geollava_complete.json").read_text()) == {"step": 8}
    assert [p.name for p in folder.glob(".*")] == []

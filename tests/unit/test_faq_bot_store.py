"""The folder of saved bot models (data_dir/bot-models) is a cache shared by every process:
a damaged file, two processes saving at once, or months of knowledge-base edits must cost at
most a training, never a bot turn or the disk. Real classifier, tiny knowledge bases."""

from __future__ import annotations

import gc
import io
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helpline.bot.classifier import IntentClassifier
from helpline.bot.faq_bot import KEEP_MODELS, ClassifierEngine, train_engine
from helpline.domain.flows.runtime import Decision
from helpline.services.knowledge import TrainingQuestion


def questions(marker: str = "") -> list[TrainingQuestion]:
    """Two intents (the least a classifier needs); `marker` makes another base, so another file."""
    return [
        TrainingQuestion("refund", f"how do I get a refund {marker}".strip(), "en"),
        TrainingQuestion("refund", "I want my money back", "en"),
        TrainingQuestion("hours", "when are you open", "en"),
        TrainingQuestion("hours", "what are your opening hours", "en"),
    ]


def saved_models(folder: Path) -> list[Path]:
    return sorted(folder.glob("intents-*.npz"))


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """The file name and bytes of a model trained on `questions()`."""
    folder = tmp_path_factory.mktemp("good-model")
    train_engine(questions(), folder)
    (path,) = saved_models(folder)
    return path.name, path.read_bytes()


def other_version(model: bytes) -> bytes:
    """The model as a release with one more classifier setting would have written it."""
    with np.load(io.BytesIO(model), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["settings"]["new_knob"] = 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


DAMAGE = {
    "empty": lambda model: b"",
    "cut short": lambda model: model[: len(model) // 2],
    "not a model": lambda model: b"hello world",
    "another version's settings": other_version,
}


#: numpy's np.load leaves the file open when a file that starts like a zip is not a whole one
#: (it hands the file to NpzFile, which raises); the garbage collector closes it and warns.
NUMPY_LEAKS_THE_FILE = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.mark.parametrize(
    "damage", [pytest.param(d, marks=NUMPY_LEAKS_THE_FILE if d == "cut short" else ()) for d in DAMAGE]
)
def test_a_damaged_saved_model_is_replaced_by_a_retrained_one(
    damage: str, good_model: tuple[str, bytes], tmp_path: Path
) -> None:
    name, model = good_model
    (tmp_path / name).write_bytes(DAMAGE[damage](model))

    engine = train_engine(questions(), tmp_path)
    gc.collect()  # numpy's leaked file is closed here, under this test's filter, not a later one's

    assert isinstance(engine, ClassifierEngine)
    assert engine.guess("when are you open").decision is not Decision.HANDOFF
    # The bad file is gone for good: the next start loads the retrained model.
    assert saved_models(tmp_path) == [tmp_path / name]
    IntentClassifier.load(tmp_path / name)


def test_a_model_that_cannot_be_saved_still_answers(tmp_path: Path) -> None:
    """A full or read-only disk must not fail the turn that trained the model."""
    not_a_folder = tmp_path / "bot-models"
    not_a_folder.write_text("a file where the folder should be")

    engine = train_engine(questions("unsaved"), not_a_folder)

    assert engine.guess("when are you open").decision is not Decision.HANDOFF


def test_processes_saving_the_same_model_at_once_all_succeed(tmp_path: Path) -> None:
    """Web and worker (or two web workers) retrain the same base after one edit; each must save
    a whole file under its final name, and none may fail on the other's half-written file."""
    workers, rounds = 8, 4
    for round_ in range(rounds):
        folder = tmp_path / f"round-{round_}"
        start = threading.Barrier(workers)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=train_at_once, args=(start, folder, errors)) for _ in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        (saved,) = saved_models(folder)
        assert list(folder.iterdir()) == [saved]  # no half-written file left behind
        IntentClassifier.load(saved)


def train_at_once(start: threading.Barrier, folder: Path, errors: list[BaseException]) -> None:
    start.wait()
    try:
        train_engine(questions(), folder)
    except BaseException as error:
        errors.append(error)


def test_only_the_newest_models_are_kept(good_model: tuple[str, bytes], tmp_path: Path) -> None:
    """Every edit of the base trains a new model (~1.7 MB for the sample base): the folder keeps
    the newest few, and a model loaded recently counts as new."""
    _, model = good_model
    now = time.time()
    older = []
    for age in range(1, 6):  # models of five earlier bases, a day apart
        path = tmp_path / f"intents-{age:024d}.npz"
        path.write_bytes(model)
        os.utime(path, (now - age * 86400, now - age * 86400))
        older.append(path)
    used = tmp_path / "intents-used.npz"  # the oldest file, but loaded a moment ago
    used.write_bytes(model)
    os.utime(used, (now - 30 * 86400, now - 30 * 86400))
    os.utime(used)

    train_engine(questions("newest"), tmp_path)

    kept = saved_models(tmp_path)
    assert len(kept) == KEEP_MODELS
    assert older[0] in kept
    assert used in kept
    assert {p.name for p in kept} - {older[0].name, used.name} != set()  # the one just trained


def test_loading_a_model_marks_it_as_recently_used(good_model: tuple[str, bytes], tmp_path: Path) -> None:
    name, model = good_model
    path = tmp_path / name
    path.write_bytes(model)
    month_ago = time.time() - 30 * 86400
    os.utime(path, (month_ago, month_ago))

    train_engine(questions(), tmp_path)

    assert path.stat().st_mtime > month_ago + 86400


def test_half_written_files_of_a_dead_process_are_removed(tmp_path: Path) -> None:
    abandoned = tmp_path / ".intents-0123456789abcdef01234567-x1y2z3.partial"
    abandoned.write_bytes(b"half a model")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    in_progress = tmp_path / ".intents-0123456789abcdef01234567-a1b2c3.partial"
    in_progress.write_bytes(b"another process is writing this one now")

    train_engine(questions("pruning"), tmp_path)

    assert not abandoned.exists()
    assert in_progress.exists()

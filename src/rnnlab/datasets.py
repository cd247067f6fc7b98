"""The datasets the recipes know: where each comes from, its licence, its expected layout, and how to
check (and, where a stable URL exists, download) a local copy.

rnnlab never ships these datasets; it reads them from a data directory: `--data-dir`, else
$RNNLAB_DATA. Each dataset lives in a folder of that name (e.g. $RNNLAB_DATA/snips/train/seq.in).

A check compares every expected file's size and sha256 with the copy the project was developed on,
and counts files for folders of many small files (recordings). A download fetches each file from its
URL (or `mirror/NAME/PATH`), verifies the sha256 before anything is saved under the final name, and
skips files already present and correct.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.files import sha256_file

GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class FileSpec:
    path: str  # relative to the dataset's folder
    size: int  # bytes of the file as stored locally (after decompression, if gzip)
    sha256: str  # of the file as stored locally
    url: str = ""  # "" = no stable download URL
    gzip: bool = False  # the URL serves the file gzip-compressed; it is stored decompressed


@dataclass(frozen=True)
class Dataset:
    name: str
    summary: str
    source: str
    licence: str
    layout: str
    files: tuple[FileSpec, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()  # (glob pattern, number of files expected)
    extra: tuple[str, ...] = field(default=())  # further paths that must exist (not checksummed)

    @property
    def downloadable(self) -> bool:
        return bool(self.files) and all(f.url for f in self.files) and not self.counts


def _snips_files() -> tuple[FileSpec, ...]:
    sums = {
        "test/label": (10120, "37a26da3ad079bb41c42c85a3a8f827eb47efec4c5917ce5d08f4b2736e4f830"),
        "test/seq.in": (33121, "c1e341173fcea2951a8ca371956a6f81c76de87b9583c62eb87edd6158fa3a7c"),
        "test/seq.out": (50918, "58c07c9097d5e1f78889765c2a535a160f6455b90b3142055c8051847afcca47"),
        "train/label": (184532, "bfd7df6cf9dd76c5da5d8b61bc85f90386197bdd3d7510c1d324c051537b962f"),
        "train/seq.in": (617079, "04ad1e3f2121d83c6478f9a4b17d2dbdc21d06d6127f73cb7af835ed733f9855"),
        "train/seq.out": (950926, "fd5f2121d8055827e5d6b3d3bac30f3d7e94e82a5d437751960cbdd9e1b4f6d3"),
        "valid/label": (9900, "9c1dd041216f647bcfca838aaf1a48eb5781e4404256d31ff07cd38a5436c52f"),
        "valid/seq.in": (33629, "64e0f6d8ad8aab3a3828164d7d53731a0993d3ca1aed437ceaca6d3d568d410e"),
        "valid/seq.out": (50626, "712e6d34feb8d52d208b820a5f8bae6e6ff990f08374507dfde22de389088319"),
    }
    return tuple(FileSpec(p, s, h, f"{GH}/MiuLab/SlotGated-SLU/master/data/snips/{p}") for p, (s, h) in sums.items())


DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("snips", "SNIPS NLU benchmark: 7 intents, BIO slot tags; train 13,084 / valid 700 / test 700",
            "github MiuLab/SlotGated-SLU data/snips", "none stated; released by SNIPS for research",
            "{train,valid,test}/{seq.in,seq.out,label}, one utterance per line", _snips_files()),
    Dataset("tinyshakespeare", "Tiny Shakespeare, 1,115,394 characters (nanoGPT split: first 90% train)",
            "github karpathy/char-rnn data/tinyshakespeare", "MIT (repository)", "input.txt",
            (FileSpec("input.txt", 1115394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                      f"{GH}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"),)),
    Dataset("ptb", "Penn Treebank, Mikolov's word-level LM version (10k words, <unk>, N)",
            "github Lasagne/Recipes examples/penntree (decompressed)", "derived from LDC's PTB; widely redistributed",
            "ptb.{train,valid,test}.txt, one sentence per line",
            (FileSpec("ptb.train.txt", 5101618, "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
             FileSpec("ptb.valid.txt", 399782, "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
             FileSpec("ptb.test.txt", 449945, "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"))),
    Dataset("multi30k", "Multi30k task 1, German-English image descriptions; 29,000 / 1,014 / 1,000",
            "github multi30k/dataset data/task1/raw (decompressed)", "research, non-commercial (Flickr30k terms)",
            "{train,val,test_2016_flickr}.{de,en}, one sentence per line",
            (FileSpec("train.de", 2110398,
                      "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72"),
             FileSpec("train.en", 1801238,
                      "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
             FileSpec("val.de", 75981,
                      "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660"),
             FileSpec("val.en", 63297,
                      "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
             FileSpec("test_2016_flickr.de", 70649,
                      "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16"),
             FileSpec("test_2016_flickr.en", 62076,
                      "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182"))),
    Dataset("flickr8k", "Flickr8k: 8,000 photos, 5 captions each; the official 6,000 / 1,000 / 1,000 split",
            "images: github RlNZLER/Image-Text-Matching data/images (224x224, re-encoded JPEG q85); captions and "
            "splits: github prakhar-dhakar/Image-Captioning",
            "research use only; photos remain their owners' copyright; cite Hodosh, Young & Hockenmaier, JAIR 2013",
            "Flickr8k.token.txt (IMAGE#N<TAB>caption), Flickr_8k.{train,dev,test}Images.txt, images/*.jpg",
            (FileSpec("Flickr8k.token.txt", 3395229,
                      "9b8608b02da9040581f1e3d4c8738db1fb6f63314342100432adc3962f77d71a"),
             FileSpec("Flickr_8k.trainImages.txt", 154678,
                      "e330ddd5156a4c2d2e2b67bc587e70e588f2d132bd8a10dc54dcb71e58115d8e"),
             FileSpec("Flickr_8k.devImages.txt", 25801,
                      "18ba829f47f6df1cb830bf7f0506e2ddf333818925299babbd1bbcaf50fdc504"),
             FileSpec("Flickr_8k.testImages.txt", 25775,
                      "c0924146c131458ceba45da59670fe9520eadce1e5cafffa16a817672a9b1f17")),
            counts=(("images/*.jpg", 8000),)),
    Dataset("fsdd", "Free Spoken Digit Dataset: 3,000 recordings, 8 kHz mono; index 0-4 test, 5-49 train",
            "github Jakobovski/free-spoken-digit-dataset", "CC BY-SA 4.0",
            "recordings/{digit}_{speaker}_{index}.wav", counts=(("recordings/*.wav", 3000),)),
    Dataset("an4", "CMU AN4 census speech as Sphinx MFCC features (13 per 10 ms); 948 train / 130 test",
            "github cphazen/Machine-Learning-Project-ASR an4/", "see an4/LICENSE",
            "feat/**.mfc, etc/an4_{train,test}.{transcription,fileids}",
            (FileSpec("etc/an4_train.transcription", 32422,
                      "6eb103966af7ed10c8d44651bc51a0b2ddd052bf430d60efcf3a7e7b9d9f4651"),
             FileSpec("etc/an4_test.transcription", 4578,
                      "a36c14d7473eeba948ea64aa95be1e4fa42321ae6d535ea91e2381cb16faacfd"),
             FileSpec("etc/an4_train.fileids", 26020,
                      "a8a4c7f10776bb7d6804b9f1acd0bb6eedd9978490b514c185cebc216a0efed6"),
             FileSpec("etc/an4_test.fileids", 4106,
                      "6860eb5ead0e3219b8aa6510fd1a0f1c0717c560bb18928329728ab2614261ce")),
            counts=(("feat/**/*.mfc", 1078),)),
    Dataset("ett", "Electricity Transformer Temperature, hourly, 7 variables, target OT (Informer splits)",
            "github zhouhaoyi/ETDataset ETT-small", "CC BY-ND 4.0", "ETTh1.csv",
            (FileSpec("ETTh1.csv", 2589657, "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                      f"{GH}/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv"),)),
    Dataset("sp500", "S&P 500 index, daily OHLCV 2000-01-03 .. 2018-08-31",
            "github jaungiers/LSTM-Neural-Network-for-Time-Series-Prediction data/", "AGPL-3.0 (repository)",
            "sp500.csv",
            (FileSpec("sp500.csv", 310533, "b11593884d3aef8cb6d5671352db4203498251e624e6fee16ae6df32b66db9d7",
                      f"{GH}/jaungiers/LSTM-Neural-Network-for-Time-Series-Prediction/master/data/sp500.csv"),)),
    Dataset("logs/openstack", "OpenStack logs as event-id sessions; train 19 normal, test 1,852 normal + 198 abnormal",
            "github ait-aecid/anomaly-detection-log-datasets openstack_loghub", "see logs/LICENSE-ait-aecid",
            "openstack_{train,test_normal,test_abnormal}, one session a line: id,e1 e2 ...",
            (FileSpec("openstack_train", 2111,
                      "536b677fe334eb718eb8651f325631c4ea99681a06706292969b4b38a003cb12"),
             FileSpec("openstack_test_normal", 205375,
                      "560f62db7cbb3ecaff2d631dc32e8fd8c5a57387866bc6f12894b073a3804b05"),
             FileSpec("openstack_test_abnormal", 21851,
                      "d112e3592a48d36404688e532bfa8f6b9231cf3edf569071a6bb6d0925a686ef"))),
    Dataset("logs/hdfs", "HDFS block sessions as event ids (DeepLog's files); train 4,855 normal, test 16,838 abnormal",
            "github wuyifan18/DeepLog data/", "MIT (repository)", "hdfs_train, hdfs_test_abnormal, one session a line",
            (FileSpec("hdfs_train", 253021, "55cb65a39728b0d21ab95d0bb44a586e79e27993d7a799e2f42e8a5d7fb20d49",
                      f"{GH}/wuyifan18/DeepLog/master/data/hdfs_train"),
             FileSpec("hdfs_test_abnormal", 765642, "a1e6c2706bd4df4b068f4b5a06dc1425bfd8d90e68905998d51825dedc563dd0",
                      f"{GH}/wuyifan18/DeepLog/master/data/hdfs_test_abnormal"))),
    Dataset("adfa-ld", "ADFA-LD Linux system-call traces: Training 833 normal, Validation 4,372 normal, Attack 746 "
            "in 6 types (60 runs)",
            "UNSW Canberra ADFA IDS datasets (Creech & Hu 2013), as mirrored in public repositories",
            "research use; cite Creech & Hu, IEEE WCNC 2013",
            "Training_Data_Master/*.txt, Validation_Data_Master/*.txt, Attack_Data_Master/<Type>_<run>/*.txt "
            "(one trace a file, syscall numbers space-separated), ADFA-LD+Syscall+List.txt",
            (FileSpec("ADFA-LD+Syscall+List.txt", 27107,
                      "d186e067a5016e382fb45500a75287769610c5b0e3675d35095db870ce3f28c6"),),
            counts=(("Training_Data_Master/*.txt", 833), ("Validation_Data_Master/*.txt", 4372),
                    ("Attack_Data_Master/*/*.txt", 746))),
    Dataset("malapi", "Mal-API-2019 subset: 808 Windows API-call sequences, 8 malware families",
            "github ocatak/malware_api_class other/data/100_calls.zip (re-compressed as gzip)", "MIT",
            "100_calls.txt.gz, 100_types.txt, ApiIndex.txt",
            (FileSpec("100_calls.txt.gz", 528415, "7f9a2dae3d709ae3c9f1bed42fc48d8cc1c7950d14b10b14aa1c3593bc7ea1df"),
             FileSpec("100_types.txt", 6262, "77984e3f80e85d8eac7b45f64856486048cf800ebaac158f46a6dfea743a1216"),
             FileSpec("ApiIndex.txt", 6940, "970c5988664898b189153c61ced31b1dc3ae6a4eb9834ce7163be58beafaa887"))),
]}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (see `rnnlab data`)")
    return DATASETS[name]


def data_dir(given: str | None = None) -> Path:
    """--data-dir if given, else $RNNLAB_DATA; a UserError saying what to set otherwise."""
    text = given or os.environ.get("RNNLAB_DATA")
    if not text:
        raise UserError("no data directory: pass --data-dir DIR or set RNNLAB_DATA=/path/to/data")
    return Path(text).expanduser()


def check(dataset: Dataset, root: Path) -> list[str]:
    """Problems with the local copy under root/NAME (empty list = all good)."""
    folder = root / dataset.name
    if not folder.is_dir():
        return [f"{folder}: missing (expected layout: {dataset.layout})"]
    problems = []
    for spec in dataset.files:
        path = folder / spec.path
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != spec.size:
            problems.append(f"{path}: {path.stat().st_size} bytes, expected {spec.size}")
        elif sha256_file(path) != spec.sha256:
            problems.append(f"{path}: sha256 differs from the published copy (modified or a different version)")
    for pattern, expected in dataset.counts:
        found = len(list(folder.glob(pattern)))
        if found != expected:
            problems.append(f"{folder}/{pattern}: {found} files, expected {expected}")
    return problems


def download(dataset: Dataset, root: Path, mirror: str | None = None, echo=print) -> list[Path]:
    """Fetch every file of `dataset` into root/NAME, verifying sha256 before saving. Returns the paths."""
    if not dataset.files or (not mirror and not dataset.downloadable):
        raise UserError(f"{dataset.name} has no stable download URL; get it from {dataset.source} "
                        f"and place it under {root / dataset.name} ({dataset.layout})")
    folder = root / dataset.name
    saved = []
    for spec in dataset.files:
        target = folder / spec.path
        if target.is_file() and target.stat().st_size == spec.size and sha256_file(target) == spec.sha256:
            echo(f"{target}: already present and verified")
            saved.append(target)
            continue
        url = f"{mirror.rstrip('/')}/{dataset.name}/{spec.path}{'.gz' if spec.gzip else ''}" if mirror else spec.url
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                try:
                    with urllib.request.urlopen(url, timeout=60) as response:
                        stream = gzip.GzipFile(fileobj=response) if spec.gzip else response
                        while block := stream.read(1 << 20):
                            h.update(block)
                            out.write(block)
                except (urllib.error.URLError, OSError, ValueError) as e:
                    raise UserError(f"{url}: download failed ({getattr(e, 'reason', e)})") from None
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != spec.sha256:
                raise UserError(f"{url}: checksum mismatch (sha256 {h.hexdigest()[:16]}..., expected "
                                f"{spec.sha256[:16]}...); nothing was saved")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        echo(f"{target}: downloaded and verified")
        saved.append(target)
    return saved

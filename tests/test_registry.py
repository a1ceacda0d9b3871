"""Registry behaviour: names, overrides, errors, and adding a loss with one module."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from synpo_bench.api.losses import LOSSES, get_loss, list_losses
from synpo_bench.api.registry import UnknownNameError, import_plugins
from synpo_bench.api.stats import PairStats


def test_all_design_losses_are_registered() -> None:
    assert set(list_losses()) >= {
        "dpo",
        "ipo",
        "simpo",
        "orpo",
        "synpo",
        "sft",
        "cdpo",
        "hinge",
        "rdpo",
        "dpop",
        "cpo",
        "nca",
        "kto",
        "apo_zero",
    }


def test_unknown_loss_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as error:
        get_loss("dpoo")
    message = str(error.value)
    assert "unknown loss 'dpoo'" in message and "synpo" in message and "dpo" in message


def test_unknown_hyper_parameter_lists_valid_ones() -> None:
    with pytest.raises(
        UnknownNameError, match="loss 'simpo' has no hyper-parameter 'alpha'; valid: beta, gamma"
    ):
        get_loss("simpo", alpha=1.0)


def test_a_new_loss_is_one_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_margin_loss.py").write_text(
        textwrap.dedent(
            '''
            from synpo_bench.api.diagnostics import LossTerms
            from synpo_bench.api.losses import register_loss

            @register_loss("margin_test", needs_reference=False, citation="Test 2026", scale=2.0)
            def margin_test(stats, scale):
                """Twice the negative log-prob gap (a plug-in made by a test)."""
                gap = stats.chosen_logp_sum - stats.rejected_logp_sum
                return LossTerms(-scale * gap, stats.chosen_logp_sum, stats.rejected_logp_sum)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import_plugins(["my_margin_loss"])
    try:
        assert "margin_test" in list_losses()
        one = torch.tensor([1.0])
        stats = PairStats(torch.tensor([-2.0]), torch.tensor([-5.0]), one, one, one / 2, one / 4)
        assert get_loss("margin_test")(stats).loss.item() == pytest.approx(-6.0)
        assert get_loss("margin_test", scale=1.0)(stats).loss.item() == pytest.approx(-3.0)
    finally:
        sys.modules.pop("my_margin_loss", None)
        LOSSES.remove("margin_test")


def test_bad_plugin_path_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot import plug-in module 'no_such_plugin_module'"):
        import_plugins(["no_such_plugin_module"])


def test_first_lookups_from_two_threads_both_see_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Discovery imports the package's modules; a second thread asking while the first is still importing
    # must wait for it, not see a half-filled table (it used to get "unknown ...; valid: (none)").
    package = tmp_path / "slow_entries"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(
        "import time\nfrom slow_registry_holder import REGISTRY\ntime.sleep(0.3)\nREGISTRY.add('slow', 1)\n"
    )
    (tmp_path / "slow_registry_holder.py").write_text(
        "from synpo_bench.api.registry import Registry\n"
        "REGISTRY = Registry('thing', 'things', 'slow_entries', 'no.such.group')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from slow_registry_holder import REGISTRY  # type: ignore[import-not-found]

    seen: list[list[str]] = []
    threads = [threading.Thread(target=lambda: seen.append(REGISTRY.names())) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # the second starts while the first is inside the slow import
    for thread in threads:
        thread.join()
    assert seen == [["slow"], ["slow"]]

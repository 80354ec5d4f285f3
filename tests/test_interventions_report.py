"""The causal tests' report text: numbers, thresholds and wording generated from small summary tables."""

from __future__ import annotations

import pandas as pd

from analysis.interventions import report_section as section


def _row(test: str, measure: str, mean: float, low: float, high: float, **extra) -> dict:
    return {"test": test, "measure": measure, "scope": extra.pop("scope", "attention"), "method": "", "removal": "",
            "group": "all", "n": 500, "mean": mean, "mean_low": low, "mean_high": high, "family": "", **extra}


def test_tiny_values_print_in_scientific_notation_and_ordinary_ones_keep_their_decimals():
    assert section.number(2.1e-5) == "2.1e-05" and section.number(-3e-4, signed=True) == "-3.0e-04"
    assert section.number(0.0) == "0.000" and section.number(0.1234) == "0.123"
    # two significant digits below 0.1, the given decimals above
    assert section.interval(0.0084, 0.0069, 0.0106) == "0.0084 [0.0069, 0.0106]"
    assert section.interval(0.166, 0.151, 0.18) == "0.166 [0.151, 0.180]"
    assert section.interval(2e-5, 1e-5, 3e-5) == "2.0e-05 [1.0e-05, 3.0e-05]"


def test_a_significant_but_tiny_zeroing_effect_reads_negligibly_larger_with_readable_numbers():
    run = pd.DataFrame([
        _row("zeroing", "flip_rate_max", 0.0, 0.0, 0.01), _row("zeroing", "flip_rate_random", 0.0, 0.0, 0.01),
        _row("zeroing", "output_jsd_max", 4e-5, 3e-5, 5e-5), _row("zeroing", "output_jsd_random", 1e-6, 5e-7, 2e-6),
        _row("zeroing", "jsd_difference", 3.9e-5, 2.9e-5, 4.9e-5, family="top_vs_random_word", p_adjusted=1e-4,
             min_p=1e-4)])
    text = section.zeroing_sentence(run)
    assert "0.0000" not in text and "+0.000 " not in text
    assert "its output JSD, 4.0e-05 [3.0e-05, 5.0e-05], is negligibly larger than that of a random word" in text
    assert "paired difference +3.9e-05 [+2.9e-05, +4.9e-05]" in text
    # a difference whose interval reaches 1e-3 is plainly larger
    run.loc[run["measure"] == "jsd_difference", ["mean", "mean_high"]] = (0.002, 0.003)
    assert "is larger than that of a random word" in section.zeroing_sentence(run)

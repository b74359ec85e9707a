"""Ideology of authors from the news domains they share."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.datasets import shared_data_dir
from streams.core.groups import AuthorScore, DomainTable, group_of, normalize_domain


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://www.NYTimes.com/2024/03/01/x.html?a=b", "nytimes.com"),
        ("http://foxnews.com:8080/path", "foxnews.com"),
        ("www2.example.org", "example.org"),
        ("Breitbart.com", "breitbart.com"),
        ("not a url at all", ""),
        ("http://[broken", ""),
    ],
)
def test_normalize_domain(raw, host):
    assert normalize_domain(raw) == host


def test_subdomains_fall_back_to_their_parent():
    t = DomainTable({"bbc.co.uk": -0.2, "nytimes.com": -0.6})
    assert t.score("https://news.bbc.co.uk/a") == -0.2
    assert t.score("https://cooking.nytimes.com") == -0.6
    assert t.score("co.uk") is None
    assert t.score("unknown.com") is None


def test_robertson_table_loads_from_shared_data():
    t = DomainTable.load(shared_data_dir() / "ideology" / "robertson2018_bias_scores.csv")
    assert len(t.scores) > 15_000
    assert t.score("https://www.breitbart.com/x") > 0.5
    assert t.score("https://www.huffpost.com/y") < 0


def test_plain_table_and_bad_header(tmp_path: Path):
    good = tmp_path / "t.csv"
    good.write_text("domain,score\nexample.com,0.5\nbad.com,notanumber\nfar.com,7\n")
    assert DomainTable.load(good).scores == {"example.com": 0.5}
    bad = tmp_path / "b.csv"
    bad.write_text("site,bias\nx.com,1\n")
    with pytest.raises(ValueError, match="domain"):
        DomainTable.load(bad)


def test_running_author_score_and_thresholds():
    a = AuthorScore()
    assert group_of(a, -0.2, 0.2) == "unassigned"
    a = a.add([-0.8])
    assert group_of(a, -0.2, 0.2) == "liberal"
    a = a.add([0.9, 0.9])  # mean 1/3
    assert group_of(a, -0.2, 0.2) == "conservative"
    a = a.add([-0.9])  # mean 0.025
    assert group_of(a, -0.2, 0.2) == "unassigned"

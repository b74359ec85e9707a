"""`affectwatch subjects discover`: clusters of a posts file become a draft subjects file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from streams.cli import app
from streams.core.subject_discovery import discover, distinctive_terms, to_yaml
from streams.core.subjects import ALL, OTHER, Subjects

SUBJECTS = {
    "fishing": ["trout", "rod", "lake", "bait", "river", "salmon", "angler", "hook", "boat", "reel"],
    "taxes": ["income", "return", "deductions", "irs", "brackets", "property", "refund", "audit", "accountant",
              "payroll"],
    "football": ["quarterback", "touchdown", "playoffs", "coach", "stadium", "defense", "linebacker", "kickoff",
                 "referee", "season"],
}


def _posts(n_each: int = 14) -> list[str]:
    rng = np.random.default_rng(3)
    out = []
    for words in SUBJECTS.values():
        for i in range(n_each):
            a, b, c = rng.choice(words, 3, replace=False)
            out.append(f"The {a} and the {b} again, then the {c}; post {i}.")
    return out


def test_clusters_of_distinct_vocabularies_get_their_own_words():
    texts = _posts()
    # Embeddings that group by subject (three directions plus noise): the
    # clustering and naming under test, apart from any classifier.
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    emb = np.vstack([centres[i] + 0.05 * rng.standard_normal((14, 8)) for i in range(3)])
    found = discover(texts, emb, max_k=6, min_size=5)
    assert found.k == 3 and found.silhouette is not None and found.silhouette > 0.5
    assert sorted(t.size for t in found.topics) == [14, 14, 14]
    for t, words in zip(sorted(found.topics, key=lambda t: texts.index(t.examples[0]) if t.examples else 0),
                        SUBJECTS.values(), strict=True):
        assert set(t.keywords) <= set(words) and len(t.keywords) >= 5  # its own words, no frame words
        assert all(e in texts for e in t.examples) and len(t.examples) == 3
    names = [t.name for t in found.topics]
    assert len(set(names)) == 3 and not {OTHER, ALL} & set(names)


def test_the_draft_is_a_loadable_topics_file_and_is_seed_stable(tmp_path: Path):
    texts = _posts()
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((len(texts), 16))
    a = to_yaml(discover(texts, emb, k=4, seed=5), "posts.jsonl", len(texts))
    b = to_yaml(discover(texts, emb, k=4, seed=5), "posts.jsonl", len(texts))
    assert a == b
    path = tmp_path / "draft.yaml"
    path.write_text(a)
    loaded = Subjects.load(path)
    assert 1 <= len(loaded.topics) <= 4 and all(t.examples for t in loaded.topics)
    assert a.startswith("# Draft subjects from `affectwatch subjects discover posts.jsonl`")


def test_too_few_texts_is_an_error_not_a_draft():
    with pytest.raises(ValueError, match="at least 10"):
        discover(["a", "b", "c"], np.eye(3), min_size=5)
    with pytest.raises(ValueError, match="embeddings"):
        discover(["a", "b"], np.eye(3))


def test_distinctive_terms_skip_stop_words_and_one_off_words():
    docs = ["the trout and the trout and the lake lake, it's great", "the audit audit and the refund refund, don't"]
    terms = distinctive_terms(docs, 5)
    assert set(terms[0]) == {"trout", "lake"} and set(terms[1]) == {"audit", "refund"}


def test_cli_drafts_from_a_posts_file_with_the_real_classifier(tmp_path: Path):
    posts = tmp_path / "posts.jsonl"
    rows = [{"id": f"p{i}", "author_id": f"a{i}", "text": t, "created_at": 1709294400000 + i}
            for i, t in enumerate(_posts(10))]
    lines = [json.dumps(r) for r in rows] + ["not json", json.dumps({"id": "x", "text": "no author"})]
    posts.write_text("\n".join(lines) + "\n")
    out = tmp_path / "draft.yaml"
    res = CliRunner().invoke(app, ["subjects", "discover", str(posts), "--out", str(out), "--k", "3",
                                   "--min-size", "3"])
    assert res.exit_code == 0, res.output
    assert "2 records skipped" in res.output
    draft = yaml.safe_load(out.read_text())
    assert 1 <= len(draft["topics"]) <= 3
    assert sum(int(line.split()[1]) for line in out.read_text().splitlines() if line.startswith("# ") and
               "texts (" in line) <= 30
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines[:4]) + "\n")
    res = CliRunner().invoke(app, ["topics", "discover", str(few), "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "at least" in res.output  # the earlier name still works, and says the new one
    assert "now `affectwatch subjects discover`" in res.output

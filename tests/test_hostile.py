"""Hostile input is normal input (issue 10): no record, name, size, encoding or
timestamp can stop a runner, exhaust memory or change a figure silently, and
every record in is accounted for: scored + dead-lettered + late, exactly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from streams.core.records import DeadLetter, Limits, Parsed, parse
from streams.embedded import EmbeddedRunner, read_inputs, write_outputs
from streams.settings import BUNDLED, Settings
from streams.wiring import build_core
from tests.conftest import T0
from tests.processes import end

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def post(i: int, **over) -> dict:
    return {"id": f"p{i}", "author_id": f"a{i % 7}", "text": f"I am so happy about this, number {i}",
            "created_at": T0 + i * 60_000, "group": "liberal" if i % 2 else "conservative", **over}


def response(i: int, **over) -> dict:
    return {"id": f"r{i}", "model": "m", "steering": "default", "text": f"That is terrible and sad, {i}",
            "created_at": T0 + i * 60_000, **over}


def _nested(depth: int) -> dict:
    v: dict = {}
    for _ in range(depth):
        v = {"x": v}
    return v


def hostile_lines() -> list[bytes]:
    """One of each class of hostile record the issue names (posts file)."""
    d = json.dumps
    return [
        d(post(900, text="\ud800")).encode(),
        d(post(901, extra=_nested(900))).encode(),
        d(post(902))[:-1].encode() + b', "n": ' + b"9" * 5000 + b"}",
        d(post(903, text="")).encode(),
        d(post(904, text="   ")).encode(),
        d(post(905, created_at="2100-01-01T00:00:00Z")).encode(),
        d(post(906, created_at="9999-12-31T23:59:59Z")).encode(),
        d(post(907, created_at=10**30)).encode(),
        d(post(908, created_at="0001-01-01T00:00:00Z")).encode(),
        d(post(909, created_at=-1)).encode(),
        d(post(910, created_at=(T0 // 1000))).encode(),  # epoch seconds
        d(post(911, created_at=T0 + 400 * 86_400_000)).encode(),  # a year ahead of the stream
        d(post(912, topic="t" * 10_000)).encode(),
        d(post(913, group="liberal\n")).encode(),
        b"\xef\xbb\xbf" + b"{not json",
        b"\xff\xfe\xfa",
        d(post(914, urls=["["] * 100_000)).encode(),
    ]


def hostile_responses() -> list[bytes]:
    d = json.dumps
    return [
        d(response(900, model="m" * 10_000)).encode(),
        d(response(901, model="$\\notacommand{$")).encode(),  # valid: drawn as text, not TeX
        d(response(902, model="\ud800")).encode(),
        d(response(903, steering="")).encode(),
        d(response(904, text="\t\n")).encode(),
    ]


def run_files(tmp_path: Path, classifier, posts: Path | None, responses: Path | None, **over):
    s = Settings(metrics_port=-1, permutations=99, min_samples=5, output_dir=tmp_path / "out", **over)
    core = build_core(s, classifier)
    result = EmbeddedRunner(core.scorer, core.aggregator).run(read_inputs(posts, responses))
    return s, result


def accounted(result) -> bool:
    return result.records == result.scored + len(result.dead_letters) + result.late


def test_every_hostile_record_is_a_dead_letter_and_the_rest_counts(classifier, tmp_path):
    posts = tmp_path / "posts.jsonl"
    responses = tmp_path / "responses.jsonl"
    good_p = [json.dumps(post(i)).encode() for i in range(40)]
    good_r = [json.dumps(response(i)).encode() for i in range(40)]
    posts.write_bytes(b"\n".join(good_p[:20] + hostile_lines() + good_p[20:]) + b"\n")
    responses.write_bytes(b"\n".join(good_r[:20] + hostile_responses() + good_r[20:]) + b"\n")
    s, result = run_files(tmp_path, classifier, posts, responses)
    assert accounted(result)
    assert result.records == 80 + len(hostile_lines()) + len(hostile_responses())
    assert result.scored == 82  # every valid record, the "$\notacommand{$" model, the one a year ahead
    reasons = result.dead_letter_reasons()
    assert reasons.pop("timestamp_out_of_range") == 5
    assert reasons.pop("invalid_number") == 2  # 5,000 digits, and 10**30 (past 64 bits)
    assert reasons.pop("invalid_name:model") == 1 and reasons.pop("invalid_string:model") == 1
    assert reasons.pop("empty_text") == 3
    assert set(reasons) == {"invalid_string:text", "too_deep", "invalid_name:topic",
                            "invalid_name:group", "malformed_json", "invalid_utf8", "too_many_values",
                            "invalid_name:steering"}
    # The record a year ahead is counted in its bucket but moved no watermark:
    # the 24h figures still hold every other valid record.
    figs = result.figures.to_dict()
    n = sum(r["n"] for r in figs["series"] if r["topic"] == "all" and r["window"] == "24h"
            and r["dimension"] == "emotion")
    assert n == 81
    paths = write_outputs(result, s.outputs.dir)
    out = json.loads(paths["figures"].read_text())
    assert out["records"] == out["scored"] + sum(out["dead_letters"].values()) + out["late"]
    for line in paths["dead_letters"].read_text().splitlines():
        assert json.loads(line)["reason"]


def test_a_record_whose_handling_raises_becomes_its_own_dead_letter(classifier, tmp_path, monkeypatch):
    """Fault injection in our own code (not a stand-in for the classifier): the
    record that raises is dead-lettered as internal_error, the run goes on."""
    from streams.core.pipeline import Scorer

    real = Scorer.assemble

    def assemble(self, parsed, outputs, i):
        if parsed.record.id == "p7":
            raise ZeroDivisionError("injected")
        return real(self, parsed, outputs, i)

    monkeypatch.setattr(Scorer, "assemble", assemble)
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(post(i)) + "\n" for i in range(30)))
    _, result = run_files(tmp_path, classifier, posts, None)
    assert accounted(result) and result.scored == 29
    assert [d.reason for d in result.dead_letters] == ["internal_error:ZeroDivisionError"]


def test_files_with_boms_cr_endings_bad_bytes_and_unclosed_quotes(classifier, tmp_path):
    rows = [post(i) for i in range(12)]
    # JSONL: a BOM before the first record, CR-only line endings.
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + b"\r".join(json.dumps(r).encode() for r in rows) + b"\r")
    _, result = run_files(tmp_path, classifier, jsonl, None)
    assert result.records == 12 and result.scored == 12 and not result.dead_letters
    # CSV: a BOM, CRLF, one row with invalid UTF-8, one with an unclosed quote; no valid row lost.
    header = b"id,author_id,text,created_at,group\r\n"
    lines = [f'{r["id"]},{r["author_id"]},"{r["text"]}",{r["created_at"]},{r["group"]}\r\n'.encode() for r in rows]
    lines[3] = b"bad,a1,\xff\xfe latin-1 \xe9t\xe9," + str(T0).encode() + b",liberal\r\n"
    lines[6] = b'open,a1,"never closed,' + str(T0).encode() + b",liberal\r\n"
    csv_path = tmp_path / "posts.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + header + b"".join(lines))
    _, result = run_files(tmp_path, classifier, csv_path, None)
    assert accounted(result)
    assert result.scored == 10
    assert sorted(d.reason for d in result.dead_letters) == ["invalid_utf8", "malformed_csv"]
    assert {d.source["line"] for d in result.dead_letters} == {5, 8}


def test_no_records_scored_still_writes_figures_and_report(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps(post(1, text="")) + "\n")
    out = tmp_path / "out"
    run = subprocess.run([str(BIN / "affectwatch"), "run", "--posts", str(posts), "--out", str(out),
                          "--metrics-port", "-1"], capture_output=True, text=True, timeout=300)
    # Written in full, but the exit code says most of the input was refused (issue 11).
    assert run.returncode == 1 and "1 of 1 records were dead-lettered" in run.stderr, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert json.loads((out / "figures.json").read_text())["dead_letters"] == {"empty_text": 1}
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        ({"AFFECTWATCH_CLASSIFIER_BATCH_SIZE": "-1"}, ["run", "--posts", "x.jsonl"], "CLASSIFIER_BATCH_SIZE"),
        ({"AFFECTWATCH_BATCH_SIZE": "0"}, ["run", "--posts", "x.jsonl"], "AFFECTWATCH_CLASSIFIER_BATCH_SIZE"),
        ({"AFFECTWATCH_FIGURES_PERMUTATIONS": "0"}, ["demo"], "AFFECTWATCH_FIGURES_PERMUTATIONS"),
        ({"AFFECTWATCH_FIGURES_ALPHA": "5"}, ["demo"], "AFFECTWATCH_FIGURES_ALPHA"),
        ({"AFFECTWATCH_FIGURES_MIN_SAMPLES": "-1"}, ["demo"], "AFFECTWATCH_FIGURES_MIN_SAMPLES"),
        ({"AFFECTWATCH_WINDOWS_ALLOWED_LATENESS_SECONDS": "-5"}, ["demo"], "WINDOWS_ALLOWED_LATENESS_SECONDS"),
        ({"AFFECTWATCH_OUTPUTS_HTTP_PORT": "70000"}, ["worker"], "AFFECTWATCH_OUTPUTS_HTTP_PORT"),
        ({"AFFECTWATCH_SUBJECTS_FILE": "/no/such/topics.yaml"}, ["worker"], "AFFECTWATCH_SUBJECTS_FILE: no such file"),
        ({"AFFECTWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, ["replay", "--posts", "x.jsonl"],
         "needs sasl_username"),
        ({"AFFECTWATCH_OUTPUTS_RUN_LABEL": "a\tb"}, ["demo"], "run_label"),
    ],
)
def test_bad_settings_end_in_a_clear_message_and_exit_2(env, args, says, tmp_path):
    import os

    run = subprocess.run([str(BIN / "affectwatch"), *args], env={**os.environ, **env}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    out = run.stdout + run.stderr
    assert "invalid settings" in out and says in out and "Traceback" not in out


def test_outputs_never_follow_a_planted_symlink(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(post(i)) + "\n" for i in range(3)))
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "figures.json").symlink_to(victim)
    run = subprocess.run([str(BIN / "affectwatch"), "run", "--posts", str(posts), "--out", str(out),
                          "--metrics-port", "-1"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "symbolic link" in run.stdout + run.stderr
    assert victim.read_text() == "keep me"
    as_file = tmp_path / "a-file"
    as_file.write_text("x")
    run = subprocess.run([str(BIN / "affectwatch"), "run", "--posts", str(posts), "--out", str(as_file),
                          "--metrics-port", "-1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "not a folder" in run.stdout + run.stderr


def test_credentials_in_urls_are_redacted():
    from streams.safe_files import redact_url

    assert redact_url("https://bob:s3cret@api.example.com/v1?key=abc") == "https://***@api.example.com/v1?***"
    assert "s3cret" not in redact_url("http://bob:s3cret@127.0.0.1:8000/v1")


def test_memory_stays_bounded_whatever_the_names_and_texts(tmp_path):
    """The extremes: maximal texts, 10,000-character and 128-character names, 2 MB
    records, deep nesting, a 100,000-bracket CSV cell. Peak RSS of the whole run
    (classifier included) stays under 500 MB."""
    rows = []
    for i in range(60):
        rows.append(json.dumps(response(i, model=f"{i:03d}" + "M" * 125, steering="s" * 128,
                                        text=("word " * 10_000)[:50_000])))
    rows += [json.dumps(response(100 + i, model="m" * 10_000)) for i in range(20)]
    rows += [json.dumps(response(200 + i, text="x" * 2_100_000)) for i in range(3)]
    rows += [json.dumps(response(300, extra=_nested(900)))]
    responses = tmp_path / "responses.jsonl"
    responses.write_text("\n".join(rows) + "\n")
    posts = tmp_path / "posts.csv"
    posts.write_text("id,author_id,text,created_at,urls\n" + f'p1,a1,hello,{T0},"' + "[" * 100_000 + '"\n'
                     + f"p2,a1,hello there,{T0},\n")
    probe = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    run = subprocess.run([sys.executable, "-c", probe, str(BIN / "affectwatch"), "run", "--posts", str(posts),
                          "--responses", str(responses), "--out", str(tmp_path / "out"), "--metrics-port", "-1"],
                         capture_output=True, text=True, timeout=900)
    code, peak_kib = (int(x) for x in run.stdout.split())
    assert code == 0
    print(f"peak RSS of the extreme run: {peak_kib / 1024:.0f} MB")
    assert peak_kib < 500 * 1024, f"peak RSS {peak_kib / 1024:.0f} MB"
    figs = json.loads((tmp_path / "out" / "figures.json").read_text())
    assert figs["records"] == 86 and figs["scored"] == 61
    assert figs["records"] == figs["scored"] + sum(figs["dead_letters"].values()) + figs["late"]


# --- a fuzz test of our own: random hostile mixes through the embedded runner ---

_names = st.one_of(st.text(max_size=20), st.text(min_size=120, max_size=300), st.just("\ud800"), st.just("$x$"))
_times = st.one_of(
    st.integers(min_value=T0 - 3_600_000, max_value=T0 + 3_600_000),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["2024-03-01T12:00:00Z", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59+00:00", "0"]),
)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
_extra = st.recursive(_leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c,
                                                                                           max_size=3)), max_leaves=20)


@st.composite
def hostile_record(draw) -> bytes:
    kind = draw(st.sampled_from(["post", "lm", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" ").replace(b"\r", b" ")
    rec: dict = {"id": draw(st.one_of(st.text(max_size=10), st.integers())), "created_at": draw(_times),
                 "text": draw(st.one_of(st.text(max_size=80), st.just("a calm and hopeful message")))}
    if kind == "post":
        rec["author_id"] = draw(_names)
        if draw(st.booleans()):
            rec["group"] = draw(st.one_of(st.sampled_from(["liberal", "conservative"]), _names))
    else:
        rec["model"] = draw(_names)
        rec["steering"] = draw(st.one_of(st.just("default"), _names))
    if draw(st.booleans()):
        rec["extra"] = draw(_extra)
    try:
        return json.dumps(rec).encode()
    except (ValueError, OverflowError):
        return b"{}"


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(st.lists(hostile_record(), min_size=1, max_size=25))
def test_fuzz_records_in_equal_scored_plus_dead_plus_late(classifier, tmp_path, lines):
    posts = tmp_path / "fuzz.jsonl"
    valid = [json.dumps(post(i)).encode() for i in range(5)]
    posts.write_bytes(b"\n".join(valid + lines) + b"\n")
    _, result = run_files(tmp_path, classifier, posts, None)
    nonblank = sum(1 for x in valid + lines if x.strip())
    assert result.records == nonblank
    assert accounted(result)
    assert result.scored >= 5
    for d in result.dead_letters:
        json.dumps(d.to_dict())


@given(st.binary(max_size=300))
@hsettings(max_examples=300, deadline=None)
def test_parse_never_raises_on_any_bytes(raw):
    out = parse(raw, "post", {"file": "f", "line": 1}, Limits())
    assert isinstance(out, Parsed | DeadLetter)


def test_ever_new_model_names_cannot_grow_series_without_end(classifier, tmp_path):
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps(response(i, model=f"model-{i}")) + "\n" for i in range(12)))
    _, result = run_files(tmp_path, classifier, None, responses, max_lm_series=5)
    assert accounted(result) and result.scored == 5
    assert result.dead_letter_reasons() == {"too_many_series": 7}
    models = {r["series"] for r in result.figures.to_dict()["series"] if r["series"].startswith("lm:")}
    assert len(models) == 5


@pytest.mark.parametrize("command", [["topics", "create"], ["worker"], ["scores"], ["probe", "--kafka"],
                                     ["replay", "--posts", str(BUNDLED / "demo" / "posts.jsonl")]])
def test_kafka_commands_fail_fast_in_one_line_when_no_broker_answers(command):
    """They used to wait about 31 s and print a 120-line traceback (issue 11 defect 8)."""
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "streams.cli", *command, "--bootstrap", "127.0.0.1:1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert time.monotonic() - t0 < 20
    assert "cannot reach Kafka" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def _busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_an_explicit_busy_metrics_port_is_an_error_and_a_busy_default_is_said(tmp_path):
    """An explicit --metrics-port used to move silently to a random port (issue 11 defect 6)."""
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": 1, "author_id": "a", "text": "hello", "created_at": T0}) + "\n")
    blocker, port = _busy_port()
    try:
        out = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--out",
                              str(tmp_path / "o1"), "--metrics-port", str(port)],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and f"cannot serve /metrics on 127.0.0.1:{port}" in out.stderr, out.stderr
        assert not (tmp_path / "o1" / "figures.json").exists()
        env = {k: v for k, v in os.environ.items() if k != "AFFECTWATCH_OUTPUTS_HTTP_PORT"}
        out = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--out",
                              str(tmp_path / "o2")], capture_output=True, text=True, timeout=300,
                             env={**env, "AFFECTWATCH_CONFIG": str(_config(tmp_path, port))})
        # the port given in a settings file counts as asked for, too
        assert out.returncode == 2, out.stdout + out.stderr
    finally:
        blocker.close()


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(f"outputs: {{http_port: {port}}}\n")
    return path


def test_keep_serving_keeps_the_final_figures_on_metrics_until_stopped(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"id": i, "author_id": "a", "text": "so happy today", "group": "liberal",
                                         "created_at": T0 + i}) + "\n" for i in range(5)))
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--out",
                             str(tmp_path / "o"), "--metrics-port", "0", "--keep-serving"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "serving the final figures at " in line:
                url = line.split("serving the final figures at ")[1].split(";")[0].strip()
                break
            assert line or proc.poll() is None, "the run ended without serving"
        assert url
        time.sleep(2)  # well past the end of the run: still there
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        assert 'affectwatch_records_total{run="live",stream="human"} 5.0' in body
    finally:  # as a supervisor stops it: SIGTERM (SIGINT may be ignored, as in a background job)
        assert end(proc, grace=30) == 0


def test_keep_serving_as_a_background_job_honours_the_ignored_sigint_and_stops_on_sigterm(tmp_path):
    """A shell starts a background job with SIGINT ignored (``nohup make test &``): the program keeps
    ignoring it, and stops cleanly on SIGTERM, as a supervisor stops it."""
    import signal

    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": 1, "author_id": "a", "text": "so happy", "group": "liberal",
                                 "created_at": T0}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--out",
                             str(tmp_path / "o"), "--metrics-port", "0", "--keep-serving"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "serving the final figures" not in proc.stdout.readline():
            assert proc.poll() is None, "the run ended without serving"
        proc.send_signal(signal.SIGINT)
        time.sleep(2)
        assert proc.poll() is None  # ignored, as the shell asked
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        end(proc)


def test_the_cli_prints_names_as_they_are_no_negative_zero_no_dict_and_fails_a_mostly_rejected_run(tmp_path):
    """Issue 11 defect 11: `lm:smile:default` became an emoji, `[b]` vanished as markup, -0.000,
    a Python dict in the summary, exit 0 when most records were dead-lettered; flags read `<bool>`."""
    from streams.observe.report import signed

    assert signed(-1e-9) == "0.000" and signed(-0.0004) == "0.000" and signed(0.25) == "+0.250"
    assert signed(-0.25) == "-0.250"
    posts = tmp_path / "posts.jsonl"
    rows = [{"id": f"p{i}", "author_id": "a", "text": "so happy and grateful today", "group": g,
             "created_at": T0 + i * 1000} for i, g in enumerate(["liberal", "conservative"] * 20)]
    posts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    responses = tmp_path / "responses.jsonl"
    lm = [{"id": f"r{i}", "model": m, "steering": "default", "text": "so happy and grateful today",
           "created_at": T0 + i * 1000} for i in range(20) for m in ("smile", "[b]x")]
    responses.write_text("".join(json.dumps(r) + "\n" for r in lm))
    out = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--responses",
                          str(responses), "--out", str(tmp_path / "o"), "--metrics-port", "-1"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "lm:smile:default" in out.stdout and "😄" not in out.stdout
    assert "[b]x" in out.stdout and "-0.000" not in out.stdout
    summary = next(x for x in out.stdout.splitlines() if " records: " in x)
    assert "{" not in summary
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + "not json\n" * 3)
    out = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(bad), "--out",
                          str(tmp_path / "b"), "--metrics-port", "-1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "3 of 4 records were dead-lettered" in out.stderr, out.stderr
    assert "invalid_json 3" in out.stdout or "3 dead letters (" in out.stdout
    helps = subprocess.run([sys.executable, "-m", "streams.cli", "score", "--help"], capture_output=True, text=True)
    assert "<bool>" not in helps.stdout and "--json" in helps.stdout
    helps = subprocess.run([sys.executable, "-m", "streams.cli", "worker", "--help"], capture_output=True,
                           text=True)
    assert "``" not in helps.stdout


def test_posts_with_links_but_no_domain_table_are_said_in_the_run_the_report_and_the_metrics(tmp_path):
    """They all became `unassigned` with no warning and an empty chart (issue 11 defect 7)."""
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"id": i, "author_id": f"a{i}", "text": "so happy today", "created_at":
                                         T0 + i, "urls": ["https://www.foxnews.com/x"]}) + "\n" for i in range(6)))
    # as in the shipped Docker image: no shared data beside it, no table set
    env = {**os.environ, "AFFECTWATCH_SHARED_DATA": str(tmp_path / "no-shared-data")}
    out = subprocess.run([sys.executable, "-m", "streams.cli", "run", "--posts", str(posts), "--out",
                          str(tmp_path / "o"), "--metrics-port", "-1"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "6 posts have links but no domain table is set" in out.stderr
    figures = json.loads((tmp_path / "o" / "figures.json").read_text())
    assert figures["unassigned_posts"] == {"no_domain_table": 6}
    page = (tmp_path / "o" / "report.html").read_text()
    assert "No post has a group" in page and "no domain table is set" in page


def test_score_refuses_an_empty_text_instead_of_printing_the_model_s_bias(tmp_path):
    """`affectwatch score ""` printed a full table of probabilities for nothing (exit 0)."""
    for args in (["", "fine"], ["   \n\t"]):
        out = subprocess.run([sys.executable, "-m", "streams.cli", "score", *args], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert out.returncode == 2 and "empty or white space only" in out.stderr, (out.stdout, out.stderr)
        assert "moral:" not in out.stdout
    lines = tmp_path / "texts.jsonl"
    lines.write_text(json.dumps({"text": "so happy today"}) + "\n" + json.dumps({"text": " "}) + "\n")
    out = subprocess.run([sys.executable, "-m", "streams.cli", "score", "--file", str(lines)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 2 and "text 2 is empty" in out.stderr, out.stderr

"""What a person reads after a run: a console table, PNG charts and one
self-contained HTML file (the charts are embedded, no network needed)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none needed
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streams.core.figures import Figures
from streams.core.subjects import ALL
from streams.safe_files import output_dir, write_bytes, write_text

matplotlib.rcParams["text.parse_math"] = False  # model and group names are data, never TeX: "$" stays "$"

STEER_COLORS = {"liberal": "#2b6cb0", "conservative": "#c53030", "default": "#4a5568"}
GROUP_COLORS = {"liberal": "#2b6cb0", "conservative": "#c53030"}


def _row(table: Table, *cells: object) -> None:
    """Cells as plain text: names come from records, and rich would read "[...]" as markup."""
    table.add_row(*(Text(str(c)) for c in cells))


def signed(x: float, digits: int = 3) -> str:
    """+0.123 / -0.123, and never "-0.000" for a value that rounds to zero."""
    r = round(x, digits) + 0.0  # adding 0.0 turns -0.0 into 0.0
    return f"{r:+.{digits}f}" if r else f"{0:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    return "—" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def main_window(figs: Figures) -> str:
    names = {a.window for a in figs.alignment} | {s.window for s in figs.series}
    return max(names, key=lambda w: sum(s.n for s in figs.series if s.window == w)) if names else ""


def alignment_table(figs: Figures, window: str, topics: list[str]) -> Table:
    t = Table(title=f"Alignment = 1 − JSD (window {window})", show_lines=False)
    for col in (
        "topic",
        "dim",
        "model",
        "steering",
        "group",
        "alignment",
        "baseline",
        "gap",
        "n lm/group",
        "p same",
        "p ≥ base",
    ):
        t.add_column(col, justify="right" if col not in ("topic", "dim", "model", "steering", "group") else "left")
    base = {(b.subject, b.dimension): b for b in figs.baseline if b.window == window}
    for a in figs.alignment:
        if a.window != window or a.subject not in topics:
            continue
        b = base.get((a.subject, a.dimension))
        gap = "" if b is None else signed(a.alignment - b.value)
        flag = "" if a.enough_samples else " (few)"
        _row(
            t,
            a.subject,
            a.dimension,
            a.model,
            a.steering,
            a.group,
            f"{a.alignment:.3f}{flag}",
            "" if b is None else f"{b.value:.3f}",
            gap,
            f"{a.n_lm}/{a.n_group}",
            _fmt_p(a.p_value),
            _fmt_p(a.below_baseline_p_value),
        )
    return t


def summary_tables(figs: Figures, window: str, topics: list[str]) -> list[Table]:
    tend = Table(title=f"Liberal tendency = A(liberal) − A(conservative) (window {window})")
    for col in ("topic", "dim", "model", "steering", "tendency"):
        tend.add_column(col)
    for x in figs.tendency:
        if x.window == window and x.subject in topics:
            _row(tend, x.subject, x.dimension, x.model, x.steering,
                 signed(x.value) + ("" if x.enough_samples else " (few)"))
    ent = Table(title=f"Concentration: entropy in bits, with sample counts (window {window})")
    for col in ("topic", "dim", "series", "n", "entropy"):
        ent.add_column(col)
    for s in figs.series:
        if s.window == window and s.subject in topics:
            _row(ent, s.subject, s.dimension, s.series.id, str(s.n), f"{s.entropy_bits:.3f}")
    drift = Table(title=f"Drift: JSD now vs the pinned reference (window {window})")
    for col in ("topic", "dim", "series", "n now/ref", "JSD", "p"):
        drift.add_column(col)
    for d in figs.drift:
        if d.window == window and d.subject in topics and d.series.stream == "lm":
            _row(
                drift,
                d.subject, d.dimension, d.series.id, f"{d.n_now}/{d.n_reference}", f"{d.jsd:.3f}", _fmt_p(d.p_value)
            )
    return [tend, ent, drift]


def print_report(figs: Figures, console: Console | None = None, topics: list[str] | None = None) -> None:
    console = console or Console()
    window = main_window(figs)
    topics = topics or [ALL]
    console.print(alignment_table(figs, window, topics))
    for t in summary_tables(figs, window, topics):
        console.print(t)


DRIFT_ALERT = 0.1  # AffectwatchDriftHigh's threshold (deploy/prometheus/rules)


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_alignment(figs: Figures, window: str) -> bytes:
    dims = sorted({a.dimension for a in figs.alignment})
    fig, axes = plt.subplots(1, max(len(dims), 1), figsize=(6 * max(len(dims), 1), 4.2), squeeze=False)
    for ax, dim in zip(axes[0], dims, strict=False):
        rows = [a for a in figs.alignment if a.window == window and a.subject == ALL and a.dimension == dim]
        keys = sorted({(a.model, a.steering) for a in rows})
        groups = sorted({a.group for a in rows})
        width = 0.8 / max(len(groups), 1)
        for gi, g in enumerate(groups):
            found = [next((a for a in rows if (a.model, a.steering) == k and a.group == g), None) for k in keys]
            vals = [a.alignment if a else 0.0 for a in found]
            # 95% bootstrap intervals as error bars; a figure with too few texts has none and is marked
            err = [[max(0.0, v - a.interval[0]) if a and a.interval else 0.0 for v, a in zip(vals, found, strict=True)],
                   [max(0.0, a.interval[1] - v) if a and a.interval else 0.0 for v, a in zip(vals, found, strict=True)]]
            xs = [i + gi * width for i in range(len(keys))]
            bars = ax.bar(xs, vals, width, label=f"with {g}", color=GROUP_COLORS.get(g), yerr=err, capsize=3,
                          error_kw={"elinewidth": 1, "ecolor": "#2d3748"})
            for bar, a in zip(bars, found, strict=True):
                if a and not a.enough_samples:
                    bar.set_alpha(0.35)
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, "too few", ha="center",
                            fontsize=7, rotation=90)
        base = next((b for b in figs.baseline if b.window == window and b.subject == ALL and b.dimension == dim), None)
        if base:
            ax.axhline(base.value, color="black", ls="--", lw=1, label=f"partisan baseline {base.value:.3f}")
            if base.interval:
                ax.axhspan(base.interval[0], base.interval[1], color="black", alpha=0.08, lw=0)
        ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(keys))])
        ax.set_xticklabels([f"{m}\n{s}" for m, s in keys])
        ax.set_ylim(0.0, 1.0)  # from 0: a cut axis makes small gaps look large
        ax.set_ylabel("alignment = 1 − JSD (base 2)")
        ax.set_title(f"{dim}: alignment with each group\n({window}, all topics; whiskers and band: 95% intervals)",
                     fontsize=10)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    return png_bytes(fig)


def plot_shares(figs: Figures, window: str) -> bytes:
    dims = sorted({s.dimension for s in figs.series})
    fig, axes = plt.subplots(max(len(dims), 1), 1, figsize=(11, 4.4 * max(len(dims), 1)), squeeze=False)
    if not dims:  # nothing was scored: say so rather than draw empty axes
        axes[0, 0].text(0.5, 0.5, "no scored records in this run", ha="center", va="center")
        axes[0, 0].set_axis_off()
    for ax, dim in zip(axes[:, 0], dims, strict=False):
        rows = [
            s
            for s in figs.series
            if s.window == window and s.subject == ALL and s.dimension == dim and s.series.group != "unassigned"
        ]
        if not rows:
            continue
        labels = list(rows[0].shares)
        width = 0.8 / len(rows)
        for i, s in enumerate(rows):
            color = GROUP_COLORS.get(s.series.group) or STEER_COLORS.get(s.series.steering)
            hatch = "" if s.series.stream == "human" else "//"
            ax.bar(
                [j + i * width for j in range(len(labels))],
                [s.shares[k] for k in labels],
                width,
                label=f"{s.series.id} (n={s.n})",
                color=color,
                alpha=0.55 if hatch else 0.9,
                hatch=hatch,
                edgecolor="white",
            )
        ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(labels))])
        ax.set_xticklabels(labels, rotation=30, ha="right")
        ax.set_ylabel("share of labels")
        ax.set_title(f"{dim} distribution per series ({window}, all topics); hatched = LM")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside, never over a bar
    fig.tight_layout()
    return png_bytes(fig)


def plot_entropy_drift(figs: Figures, window: str) -> bytes:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    rows = [s for s in figs.series if s.window == window and s.subject == ALL and s.series.group != "unassigned"]
    dims = sorted({s.dimension for s in rows})
    names = sorted({s.series.id for s in rows})
    width = 0.8 / max(len(dims), 1)
    for di, dim in enumerate(dims):
        vals = [next((s.entropy_bits for s in rows if s.series.id == n and s.dimension == dim), 0) for n in names]
        a1.bar([i + di * width for i in range(len(names))], vals, width, label=dim)
    a1.set_xticks([i + width * (len(dims) - 1) / 2 for i in range(len(names))])
    a1.set_xticklabels(names, rotation=25, fontsize=8)
    a1.set_ylabel("bits")
    a1.set_title("Concentration (entropy): lower = more concentrated")
    a1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)  # below: never over a bar
    drift = [d for d in figs.drift if d.window == window and d.subject == ALL and d.series.stream == "lm"]
    dnames = sorted({d.series.id for d in drift})
    for di, dim in enumerate(dims):
        vals = [next((d.jsd for d in drift if d.series.id == n and d.dimension == dim), 0) for n in dnames]
        a2.bar([i + di * width for i in range(len(dnames))], vals, width, label=dim)
    a2.set_xticks([i + width * (len(dims) - 1) / 2 for i in range(len(dnames))])
    a2.set_xticklabels(dnames, rotation=25, fontsize=8)
    a2.axhline(DRIFT_ALERT, color="#c53030", ls=":", lw=1.2, label=f"alert threshold {DRIFT_ALERT}")
    a2.set_ylabel("JSD vs reference (base 2)")
    a2.set_ylim(0, max([DRIFT_ALERT * 1.5] + [d.jsd * 1.1 for d in drift]))
    a2.set_title("Drift of each model from its pinned first hour")
    a2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=3, frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


def _why_section(figs: Figures, window: str, examples: dict[tuple[str, str, str], list[str]]) -> str:
    """Why each gap (topic all, main window): its driving labels, both shares, and a few example texts."""
    items = []
    for a in sorted(figs.alignment, key=lambda a: (a.dimension, a.model, a.steering, a.group)):
        if a.window != window or a.subject != ALL or not a.drivers:
            continue
        parts = []
        for d in a.drivers:
            lm = examples.get((f"lm:{a.model}:{a.steering}", a.dimension, d["label"]), [])
            human = examples.get((f"human:{a.group}", a.dimension, d["label"]), [])
            quotes = "".join(f"<li>{html.escape(t[:200])}</li>" for t in lm[:2])
            quotes += "".join(f'<li class="human">{html.escape(t[:200])}</li>' for t in human[:1])
            parts.append(f'<li><b>{html.escape(d["label"])}</b>: model {d["share"]:.0%}, {html.escape(a.group)} '
                         f'{d["other_share"]:.0%} (term {d["term"]:.3f})' + (f"<ul>{quotes}</ul>" if quotes else "")
                         + "</li>")
        items.append(f"<li>{html.escape(a.model)} {html.escape(a.steering)} vs {html.escape(a.group)}, "
                     f"{html.escape(a.dimension)}: alignment {a.alignment:.3f}<ul>{''.join(parts)}</ul></li>")
    if not items:
        return ""
    return ("<h2>Why: the labels that drive each gap</h2><p class=\"note\">Each label's term of the divergence "
            "(the terms of all labels add up to it; 1 − alignment is its square root), the label's share of the "
            "model's and of the group's label distribution, and recent model texts with it. Human posts are "
            "quoted only when AFFECTWATCH_OUTPUTS_HUMAN_EXAMPLES is on.</p><ul class=\"why\">"
            + "".join(items) + "</ul>")


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#1a202c;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #edf2f7;
text-align:right}th{background:#f7fafc}td:nth-child(-n+5){text-align:left}img{max-width:100%}
.note{color:#4a5568;font-size:.9em}.kpi{display:inline-block;margin:0 1.5em 1em 0}
.warn{background:#fff5e6;border-left:4px solid #dd6b20;padding:.5em 1em}
.kpi b{font-size:1.4em;display:block}"""


def write_report(figs: Figures, out_dir: Path, title: str, meta: dict[str, str],
                 pairing: list[dict] | None = None, unassigned: dict[str, int] | None = None,
                 examples: dict[tuple[str, str, str], list[str]] | None = None) -> dict[str, Path]:
    """PNG charts and report.html into out_dir; returns the paths. ``pairing``:
    probe answers against the posts they answer (streams.core.pairing).

    Longer than 100 lines for a reason: it is the report's page in reading order, one
    section after another, each a few lines of HTML; split, the order would be lost."""
    output_dir(out_dir)
    window = main_window(figs)
    pngs = {
        "alignment": plot_alignment(figs, window),
        "distributions": plot_shares(figs, window),
        "entropy_drift": plot_entropy_drift(figs, window),
    }
    paths: dict[str, Path] = {}
    for name, data in pngs.items():
        paths[name] = out_dir / f"{name}.png"
        write_bytes(paths[name], data)
    align_rows = []
    base = {(b.subject, b.dimension): b.value for b in figs.baseline if b.window == window}
    for a in sorted(figs.alignment, key=lambda a: (a.subject != ALL, a.subject, a.dimension, a.steering, a.group)):
        if a.window != window:
            continue
        b = base.get((a.subject, a.dimension))
        align_rows.append(
            [
                a.subject,
                a.dimension,
                a.model,
                a.steering,
                a.group,
                f"{a.alignment:.3f}",
                "" if a.interval is None else f"{a.interval[0]:.3f}–{a.interval[1]:.3f}",
                "" if b is None else f"{b:.3f}",
                f"{a.n_lm}/{a.n_group}",
                _fmt_p(a.p_value),
                _fmt_p(a.below_baseline_p_value),
                "yes" if a.enough_samples else "too few",
                ", ".join(f'{d["label"]} {d["share"]:.0%} vs {d["other_share"]:.0%}' for d in a.drivers),
            ]
        )
    tend_rows = [
        [t.subject, t.dimension, t.model, t.steering, signed(t.value),
         "" if t.interval is None else f"{signed(t.interval[0])} to {signed(t.interval[1])}",
         "yes" if t.enough_samples else "too few"]
        for t in figs.tendency if t.window == window
    ]
    drift_rows = [
        [d.subject, d.dimension, d.series.id, f"{d.jsd:.3f}",
         "" if d.interval is None else f"{d.interval[0]:.3f}–{d.interval[1]:.3f}", f"{d.n_now}/{d.n_reference}",
         _fmt_p(d.p_value), "yes" if d.enough_samples else "too few"]
        for d in figs.drift
        if d.window == window and d.series.stream == "lm"
    ]
    pair_rows = [
        [p["model"], p["steering"], p["dimension"], str(p["n"]),
         f'{p["top_match"]} ({p["top_match_share"]:.0%})', f'{p["mean_jaccard"]:.2f}']
        for p in pairing or [] if p["n"]
    ]
    pairing_html = "" if not pair_rows else (
        "<h2>Probe answers against the posts they answer</h2>"
        '<p class="note">Each answer of <code>affectwatch probe</code> names the post it answers. "top = post\'s": '
        "answers whose most probable label is the post's; Jaccard: mean overlap of their predicted label sets."
        "</p>" + _html_table(["model", "steering", "dim", "answers", "top = post's", "Jaccard"], pair_rows))
    grouped = any(x.series.stream == "human" and x.series.group != "unassigned" for x in figs.series)
    why = {"no_domain_table": "they have links but no domain table is set (AFFECTWATCH_GROUPS_DOMAIN_TABLE)",
           "no_links": "they have neither links nor an explicit group",
           "no_scored_domain": "none of their authors' domains is in the domain table",
           "between_thresholds": "their authors' mean domain score lies between the thresholds"}
    no_groups_html = "" if grouped or not unassigned else (
        '<p class="warn"><b>No post has a group, so there is no alignment figure.</b> '
        + "; ".join(f"{n} posts: {html.escape(why.get(k, k))}" for k, n in sorted(unassigned.items()))
        + ". Set a domain table, or give posts an explicit <code>group</code>.</p>")
    why_html = _why_section(figs, window, examples or {})
    kpis = "".join(f'<span class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></span>' for k, v in meta.items())

    def img(name: str) -> str:
        return f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(pngs[name]).decode()}">'

    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><div>{kpis}</div>
<p class="note">Alignment of a model with a group is 1 − JSD (base 2) between the affect distribution of the
model's responses and of the group's posts; the partisan baseline is the alignment of the two groups with each
other. "p same" tests whether the two samples could share one distribution (permutation); "p ≥ base" tests
whether the model is at least as aligned with the group as the groups are with each other (bootstrap): a small
value means significantly less aligned. Figures with fewer texts than the minimum are marked "too few".</p>
{no_groups_html}
<h2>Alignment with each group (window {html.escape(window)}, all topics)</h2>{img("alignment")}
<h2>Affect distributions</h2>{img("distributions")}
<h2>Concentration and drift</h2>{img("entropy_drift")}
{why_html}
<h2>Every alignment figure</h2>{
        _html_table(
            [
                "topic",
                "dim",
                "model",
                "steering",
                "group",
                "alignment",
                "95% interval",
                "baseline",
                "n lm/group",
                "p same",
                "p ≥ base",
                "enough",
                "driving labels (model vs group)",
            ],
            align_rows,
        )
    }
<h2>Liberal tendency</h2>{_html_table(["topic", "dim", "model", "steering", "A(lib) − A(con)", "95% interval",
                                        "enough"], tend_rows)}
<h2>Drift</h2>{_html_table(["topic", "dim", "series", "JSD", "95% interval", "n now/ref", "p", "enough"],
                           drift_rows)}
{pairing_html}
</body></html>"""
    paths["html"] = out_dir / "report.html"
    write_text(paths["html"], doc)
    return paths

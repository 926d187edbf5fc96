"""The results pages' plots, drawn from benchmark records (render_results.py calls them).

Nothing here measures: each plot reads one record of bench/results/ and writes one PNG under
docs/img/, which the results pages embed.
"""
from __future__ import annotations

from pathlib import Path

from _harness import adds_nothing, pct

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
FRONTIER_PLOT = IMG / "micro-frontier.png"
SCALING_PLOT = IMG / "micro-scaling.png"
MICRO_BERT_PLOT = IMG / "micro-bert.png"
MENU_PLOT = IMG / "attention-menu.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plaintext_line(a, accuracy: float, name: str) -> None:
    """A plaintext baseline's accuracy (a fraction) as a dashed line across plot `a`."""
    a.axhline(100 * accuracy, color="grey", ls="--", lw=1)
    a.text(a.get_xlim()[0], 100 * accuracy, f" {name} (plaintext)", va="bottom", fontsize=8,
           color="grey")


def micro_bert_plot(record: dict | None) -> None:
    """docs/img/micro-bert.png: each micro BERT's simulated accuracy against its encrypted
    seconds per sentence (left, the timed entries) and against Concrete's cost estimate
    (right, every entry), beside the bag of words and the 77.5% / 120 s targets of #16."""
    if record is None:
        return
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    style = {"pointwise": ("o", "tab:blue"), "inhibitor": ("s", "tab:orange")}
    for name, r in record["results"].items():
        marker, colour = style.get(r["attention"]["choice"], ("^", "tab:green"))
        y = 100 * r["simulated_accuracy"]
        short = name.removeprefix("bert-micro-sentiment").lstrip("-") or "(dot-product)"
        for a, x in ((ax, r.get("encrypted_s_per_image")),
                     (bx, r.get("compiler_complexity") and r["compiler_complexity"] / 1e10)):
            if x:
                a.scatter(x, y, marker=marker, color=colour, s=50)
                a.annotate(short, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    tfidf = record["baselines"]["tfidf"]
    ax.set_xlim(0, max(150, ax.get_xlim()[1]))
    for a in (ax, bx):
        _plaintext_line(a, tfidf["accuracy"], tfidf["name"])
        a.axhline(77.5, color="grey", ls=":", lw=1)  # #16's accuracy target
        a.text(a.get_xlim()[1], 77.5, "77.5% ", ha="right", va="bottom", fontsize=8,
               color="grey")
        a.grid(alpha=0.3)
    ax.axvline(120, color="grey", ls=":", lw=1)
    ax.text(120, ax.get_ylim()[0], " 120 s", va="bottom", fontsize=8, color="grey")
    bx.set_xscale("log")
    ax.set(xlabel="encrypted seconds per sentence (median, 2 cores)",
           ylabel="simulated test accuracy (%)", title="timed entries: accuracy against latency")
    bx.set(xlabel="Concrete's cost estimate (complexity / 1e10, log)",
           ylabel="simulated test accuracy (%)", title="every entry: accuracy against cost")
    handles = [plt.Line2D([], [], marker=m, color=c, ls="", label=f"{k} attention")
               for k, (m, c) in style.items()]
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(MICRO_BERT_PLOT, dpi=110)
    plt.close(fig)


def frontier_plot(record: dict | None) -> None:
    """docs/img/micro-frontier.png: simulated accuracy against encrypted seconds per image
    (left, the timed configurations) and emulated accuracy on the whole test split against
    the compiler's cost estimate (right, every configuration: the estimate follows the
    measured seconds more closely than the PBS count, which weighs a lookup on 512
    coefficients as one on 8,192), one marker per configuration. On the right only the
    configurations that no other beats on both axes are named, so that the labels stay
    legible; a configuration whose client alone is as accurate competes for nothing."""
    if record is None:
        return
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    style = {"dot": ("o", "tab:blue"), "inhibitor": ("s", "tab:orange")}
    rows = record["results"]
    useful = [r for r in rows.values() if not adds_nothing(r)]
    front = sorted((n for n, r in rows.items()  # no other row as cheap and more accurate
                    if not adds_nothing(r) and not any(
                        o["complexity"] <= r["complexity"]
                        and o["emulated_test_accuracy"] > r["emulated_test_accuracy"]
                        for o in useful)), key=lambda n: rows[n]["complexity"])
    for name, r in sorted(rows.items()):
        marker, colour = style[r["config"]["attention"]]
        fill = colour if r["client_embeds"] else "none"
        client_alone = r.get("client_alone_accuracy")
        crossed = adds_nothing(r)
        if r.get("encrypted_s_per_image"):
            point = (r["encrypted_s_per_image"], 100 * r["simulated_accuracy"])
            ax.scatter(*point, marker=marker, edgecolors=colour, facecolors=fill, s=50)
            if crossed:
                ax.scatter(*point, marker="x", color="red", s=90, lw=1.2)
            ax.annotate(name + (f"\nclient alone {pct(client_alone)}" if crossed else ""),
                        point, fontsize=7, xytext=(4, -16) if crossed else (4, 3),
                        textcoords="offset points", color="red" if crossed else "black")
        point = (r["complexity"] / 1e10, 100 * r["emulated_test_accuracy"])
        bx.scatter(*point, marker=marker, edgecolors=colour, facecolors=fill, s=50)
        if crossed:
            bx.scatter(*point, marker="x", color="red", s=90, lw=1.2)
        if name in front:  # alternately above and below, the front's neighbours are close
            bx.annotate(name, point, fontsize=7, textcoords="offset points",
                        xytext=(4, 3 if front.index(name) % 2 else -10))
    base = record["baseline"]
    for a in (ax, bx):
        _plaintext_line(a, base["baseline_accuracy"], base["baseline"])
    ax.axvline(60, color="grey", ls=":", lw=1)  # the micro ViT's latency target
    ax.text(60, ax.get_ylim()[1], " 60 s", va="top", fontsize=8, color="grey")
    ax.set(xlabel="encrypted seconds per image (median, 2 cores)",
           ylabel="simulated test accuracy (%, first n digits)",
           title="accuracy against latency")
    bx.set(xlabel="Concrete's cost estimate (complexity / 1e10)",
           ylabel="emulated test accuracy (%, all digits)",
           title="every configuration: accuracy against cost")
    for a in (ax, bx):
        a.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker=m, color=c, ls="", label=k) for k, (m, c) in style.items()]
    handles.append(plt.Line2D([], [], marker="o", color="k", ls="", label="client embeds (filled)"))
    handles.append(plt.Line2D([], [], marker="x", color="red", ls="",
                              label="a linear head on the client's output is as accurate"))
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(FRONTIER_PLOT, dpi=110)
    plt.close(fig)


def scaling_plot(record: dict | None) -> None:
    """docs/img/micro-scaling.png: PBS and encrypted seconds per image against tokens, one line
    per width and attention (seconds not measured are estimated from the cost estimate at the
    timed rows' median rate, hollow), and the measured seconds against the cost estimate."""
    if record is None:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = {8: "tab:green", 16: "tab:purple", 32: "tab:red"}
    lines = {"dot": ("o", "-"), "inhibitor": ("s", "--")}
    groups: dict = {}
    for r in record["results"].values():
        c = r["config"]
        groups.setdefault((c["width"], c["attention"]), []).append(r)
    rate = record.get("seconds_per_cost")
    untimed = any(not r.get("encrypted_s_per_image") for r in record["results"].values())
    for (width, attention), rows in sorted(groups.items()):
        rows.sort(key=lambda r: r["config"]["tokens"])
        marker, ls = lines[attention]
        style = dict(marker=marker, ls=ls, color=colours.get(width, "k"),
                     label=f"width {width}, {attention}")
        tokens = [r["config"]["tokens"] for r in rows]
        axes[0].plot(tokens, [r["pbs"] for r in rows], **style)
        seconds = [r.get("encrypted_s_per_image") or (rate and rate * r["complexity"])
                   for r in rows]
        axes[1].plot(tokens, seconds, **style)
        estimated = [(t, s) for t, s, r in zip(tokens, seconds, rows)
                     if s and not r.get("encrypted_s_per_image")]
        if estimated:
            axes[1].plot(*zip(*estimated), ls="none", marker=marker, color=style["color"],
                         markerfacecolor="white")
        timed = [r for r in rows if r.get("encrypted_s_per_image")]
        if timed:
            axes[2].plot([r["complexity"] for r in timed],
                         [r["encrypted_s_per_image"] for r in timed], ls="none",
                         **{k: v for k, v in style.items() if k != "ls"})
    if rate:  # the rate the table's estimates use
        costs = [r["complexity"] for r in record["results"].values()]
        span = [min(costs), max(costs)]
        axes[2].plot(span, [rate * c for c in span], color="grey", lw=1,
                     label=f"{1e10 * rate:.2f} s per 1e10 (median of the timed rows)")
        axes[2].legend(fontsize=7)
    axes[0].set(ylabel="PBS per image", title="table lookups against tokens")
    axes[1].set(ylabel="encrypted seconds per image (2 cores)",
                title="seconds against tokens" + (" (hollow: estimated from the cost)"
                                                  if rate and untimed else ""))
    axes[2].set(xlabel="Concrete's cost estimate", ylabel="encrypted seconds per image "
                "(median, 2 cores)", xscale="log", yscale="log",
                title="measured seconds against the cost estimate")
    axes[2].grid(alpha=0.3)
    for a in axes[:2]:
        a.set(xlabel="tokens", xscale="log", yscale="log")
        a.set_xticks([4, 8, 16], labels=["4", "8", "16"])
        a.set_xticks([], minor=True)
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(SCALING_PLOT, dpi=110)
    plt.close(fig)


def menu_plot(record: dict | None) -> None:
    """docs/img/attention-menu.png: each attention choice's test accuracy at the zoo's budget
    against one layer's encrypted cost as the cost model counts it: TFHE lookups per token
    (left) and CKKS ciphertext products per token (right; choices with no polynomial form
    counted are left out), beside the exact twin and the plaintext baseline."""
    if record is None:
        return
    plt = _pyplot()
    rows = [r for r in record["rows"] if r.get("test_accuracy") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for a, key, label in ((axes[0], "tfhe_pbs_per_token", "TFHE lookups per token"),
                          (axes[1], "ckks_products_per_token", "CKKS ciphertext products "
                                                               "per token")):
        for r in rows:
            if r.get(key) is None:
                continue
            point = (r[key], 100 * r["test_accuracy"])
            a.scatter(*point, s=50, color="tab:orange" if "inhibitor" in r["attention"]
                      else "tab:blue")
            a.annotate(r["attention"], point, fontsize=7, xytext=(4, 3),
                       textcoords="offset points")
        a.set_xlim(0, 1.15 * a.get_xlim()[1])  # from zero: the costs' ratios at a glance
        twin = record["exact_twin"]
        a.axhline(100 * twin["test_accuracy"], color="black", ls=":", lw=1)
        a.text(0, 100 * twin["test_accuracy"], f" exact twin {pct(twin['test_accuracy'])}",
               va="bottom", fontsize=8)  # the left is clear: no choice costs nothing
        if record.get("baseline"):
            _plaintext_line(a, record["baseline"]["accuracy"], record["baseline"]["name"])
        a.set(xlabel=f"one layer's attention: {label} (cost model)",
              ylabel="test accuracy (%)")
        a.grid(alpha=0.3)
    axes[0].set_title("accuracy against TFHE lookups")
    axes[1].set_title("accuracy against CKKS products")
    fig.suptitle(f"{record['model']} ({record['tokens']} tokens) on {record['dataset']}, one "
                 "zoo entry per attention choice, same recipe and budget", fontsize=9)
    fig.tight_layout()
    fig.savefig(MENU_PLOT, dpi=110)
    plt.close(fig)


def draw(records: dict[str, dict | None]) -> None:
    """Every plot, each from its record (a missing record draws nothing)."""
    frontier_plot(records.get("micro_frontier"))
    scaling_plot(records.get("micro_scaling"))
    micro_bert_plot(records.get("micro_bert"))
    menu_plot(records.get("attention_menu_zoo"))

"""``metrics.png``: how the fused model and each party's local training evolved, round by round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Metrics that lie between 0 and 1: their axis shows the whole range, so that rounds compare at a glance.
UNIT_INTERVAL_METRICS = ("accuracy", "f1", "precision", "recall", "auc")


def plot_metrics(name: str, rounds: list[dict[str, Any]], path: Path) -> None:
    """Left: the fused model's metric on each party's test data (and the mean). Right: train loss, where parties report it.

    ``name`` is the training's (its manifest name), the figure's title and the PNG's ``Title``; ``rounds`` are
    ``{round, fused: {metric: value}, parties: {name: {metric: value}}}`` each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = next((name for name in ("accuracy", "mse") if any(name in record["fused"] for record in rounds)),
                  next(iter(rounds[0]["fused"]), "accuracy"))
    parties = sorted({name for record in rounds for name in record["parties"]})
    has_loss = any("train_loss" in record["parties"][party] for record in rounds for party in record["parties"])
    figure, panels = plt.subplots(1, 2 if has_loss else 1, figsize=(10 if has_loss else 5.5, 4), squeeze=False)
    fused_axes = panels[0][0]
    numbers = [record["round"] for record in rounds]
    for party in parties:
        _plot_series(fused_axes, rounds, party, f"fused_{metric}", "o-")
    fused_axes.plot(numbers, [record["fused"].get(metric) for record in rounds], "k--", linewidth=2, label="all parties")
    fused_axes.set(title=f"fused model {metric}", xlabel="round", ylabel=metric)
    if metric in UNIT_INTERVAL_METRICS:
        fused_axes.set_ylim(0.0, 1.0)
    if has_loss:
        loss_axes = panels[0][1]
        for party in parties:
            _plot_series(loss_axes, rounds, party, "train_loss", "o-")
        loss_axes.set(title="local training loss", xlabel="round", ylabel="loss")
    for axes in panels[0]:
        axes.set_xticks(numbers)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(f"training {name}")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Title": f"training {name}"})
    plt.close(figure)


def _plot_series(axes: Any, rounds: list[dict[str, Any]], party: str, key: str, style: str) -> None:
    points = [(record["round"], record["parties"][party][key]) for record in rounds if key in record["parties"].get(party, {})]
    if points:
        axes.plot(*zip(*points, strict=True), style, label=party)

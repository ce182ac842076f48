"""The review in JupyterLab (ipywidgets 8): a page of items, one item in detail, and the decision buttons.

Every button calls the plain Python review (``Review.decide``, ``Review.skip``, ``Review.build_plan``), so a
review scripted without a display does exactly what the widgets do. Keyboard: the item list takes the arrow
keys; the "keys" box takes a approve, r reject, s skip, j/k next/previous item, n/p next/previous page.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from syncaudit.changes.review import PAGE_SIZE, Review, ReviewItem
from syncaudit.errors import SyncAuditError
from syncaudit.explore.html import STYLE, esc, table

MARK = {"pending": "·", "approve": "✓", "reject": "✗"}


def item_label(item: ReviewItem) -> str:
    conf = "" if item.confidence is None else f" {item.confidence:.2f}"
    recs = ", ".join(item.records[:3]) + (" …" if len(item.records) > 3 else "")
    return f"{MARK.get(item.status, '?')} {item.severity:<6} {item.kind} {item.system} {item.object}{conf} · {recs}"


def item_html(review: Review, item: ReviewItem) -> str:
    """One item in full: its records side by side, the evidence with weights, the proposal, the decision."""
    ids, rows, evidence = review.comparison(item)
    conf = "not scored" if item.confidence is None else f"{item.confidence:.2f}"
    status = {"pending": "undecided", "approve": "approved", "reject": "rejected"}[item.status]
    if item.status != "pending":
        status += f" by {item.decided_by} at {item.decided_at}"
        if item.survivor:
            status += f", survivor {item.survivor}"
        if item.carried_from:
            status += f" (carried over from plan {item.carried_from}: the evidence is unchanged)"
    parts = [STYLE, '<div class="sa-card sa-review-item">']
    parts.append(
        f"<h3>{esc(item.kind)} · {esc(item.system)} {esc(item.object)} "
        f'<span class="sa-muted">item {esc(item.id)}</span></h3>'
    )
    parts.append(
        f"<div>severity <b>{esc(item.severity)}</b> · confidence <b>{esc(conf)}</b> · policy {esc(item.policy)}"
        f' · <span class="sa-review-status">{esc(status)}</span></div>'
    )
    if item.earlier_rejection_outdated:
        parts.append("<div><b>Rejected in an earlier plan, but the evidence has changed since: decide again.</b></div>")
    if item.detail:
        parts.append(f"<p>{esc(item.detail)}</p>")
    if item.note:
        parts.append(f'<p class="sa-muted">plan note: {esc(item.note)}</p>')
    if review.snapshot_problem:
        parts.append(f'<p class="sa-neg">records not shown: {esc(review.snapshot_problem)}</p>')
    heads = [f"{r}{' (suggested survivor)' if r == item.suggested_survivor else ''}" for r in ids]
    parts.append("<h4>Records side by side</h4>")
    parts.append(table(["field", *heads], [[n, *v] for n, v in rows], mark_diff=True))
    source = "recorded by the audit" if item.evidence else "compared here from the records; no match weights recorded"
    parts.append(f'<h4>Evidence <span class="sa-muted">({esc(source)})</span></h4>')
    parts.append(
        table(
            ["field", "left", "right", "comparison level", "match weight"],
            [[e["field"], e["left"], e["right"], e["level"], _weight(e.get("weight"))] for e in evidence],
        )
    )
    if item.weighted:
        total = sum(e["weight"] for e in item.evidence if e.get("weight") is not None)
        parts.append(f"<div>total match weight <b>{total:+.2f}</b></div>")
    merge = item.proposal.get("merge")
    if merge:
        parts.append("<h4>Merge proposal</h4>")
        parts.append(
            table(
                ["field", "value", "taken from"],
                [[k, (v or {}).get("value"), (v or {}).get("from")] for k, v in sorted(merge.items())],
            )
        )
    elif item.proposal.get("after"):
        parts.append("<h4>Proposed change</h4>")
        before = item.proposal.get("before") or {}
        parts.append(
            table(["field", "now", "proposed"], [[k, before.get(k), v] for k, v in item.proposal["after"].items()])
        )
    parts.append("</div>")
    return "".join(parts)


def _weight(v: Any) -> str | None:
    return None if v is None else f"{float(v):+.2f}"


class ReviewWidget:
    """The interactive review of one plan."""

    def __init__(self, review: Review, page_size: int = PAGE_SIZE) -> None:
        self.review = review
        self.page_size = page_size
        self.page_no = 0
        self.items: list[ReviewItem] = []
        choices = review.choices()
        self.kind = w.Dropdown(options=[("all kinds", "")] + [(k, k) for k in choices["kind"]], description="kind")
        self.severity = w.Dropdown(
            options=[("all", "")] + [(s, s) for s in choices["severity"]], description="severity"
        )
        self.confidence = w.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="min conf.", continuous_update=False
        )
        self.status = w.Dropdown(
            options=[("all", "all"), ("undecided", "pending"), ("approved", "approve"), ("rejected", "reject")],
            value="all",
            description="status",
        )
        self.prev_page = w.Button(description="◀ page", tooltip="previous page (p)")
        self.next_page = w.Button(description="page ▶", tooltip="next page (n)")
        self.page_label = w.HTML()
        self.list = w.Select(options=[], rows=min(page_size, 12), layout=w.Layout(width="100%"))
        self.detail = w.HTML()
        self.survivor = w.Dropdown(options=[], description="survivor")
        self.approve = w.Button(description="Approve (a)", button_style="success", icon="check")
        self.reject = w.Button(description="Reject (r)", button_style="danger", icon="times")
        self.skip = w.Button(description="Skip (s)", icon="forward")
        self.keys = w.Text(placeholder="keys: a r s j k n p", description="keys", continuous_update=True)
        self.message = w.HTML()
        self.build = w.Button(description="Build decided plan", icon="cogs")
        self.plan_info = w.HTML()
        self.chart = w.Output()
        for widget, cls in (
            (self.kind, "sa-review-kind"),
            (self.severity, "sa-review-severity"),
            (self.confidence, "sa-review-confidence"),
            (self.status, "sa-review-filter-status"),
            (self.prev_page, "sa-review-prev"),
            (self.next_page, "sa-review-next"),
            (self.page_label, "sa-review-page"),
            (self.list, "sa-review-list"),
            (self.detail, "sa-review-detail"),
            (self.survivor, "sa-review-survivor"),
            (self.approve, "sa-review-approve"),
            (self.reject, "sa-review-reject"),
            (self.skip, "sa-review-skip"),
            (self.keys, "sa-review-keys"),
            (self.message, "sa-review-message"),
            (self.build, "sa-review-build"),
            (self.plan_info, "sa-review-plan"),
        ):
            widget.add_class(cls)
        for b in (self.prev_page, self.next_page, self.approve, self.reject, self.skip, self.build):
            b.layout.width = "auto"
        for f in (self.kind, self.severity, self.confidence, self.status):
            f.observe(lambda _: self._goto(0), names="value")
        self.prev_page.on_click(lambda _: self._goto(self.page_no - 1))
        self.next_page.on_click(lambda _: self._goto(self.page_no + 1))
        self._quiet = False
        self.list.observe(lambda _: None if self._quiet else self._show(), names="value")
        self.approve.on_click(lambda _: self._decide("approve"))
        self.reject.on_click(lambda _: self._decide("reject"))
        self.skip.on_click(lambda _: self._skip())
        self.build.on_click(lambda _: self._build())
        self.keys.observe(self._key, names="value")
        self.box = w.VBox(
            [
                w.HBox([self.kind, self.severity, self.confidence, self.status]),
                w.HBox([self.prev_page, self.page_label, self.next_page]),
                self.list,
                w.HBox([self.survivor, self.approve, self.reject, self.skip, self.keys]),
                self.message,
                self.detail,
                self.chart,
                w.HBox([self.build, self.plan_info]),
            ]
        )
        self.box.add_class("sa-review")
        self._goto(0)

    # ------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kw: Any) -> Any:
        return self.box._repr_mimebundle_(**kw)

    def __repr__(self) -> str:
        return repr(self.review)

    @property
    def filters(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value or None,
            "severity": self.severity.value or None,
            "min_confidence": self.confidence.value or None,
            "status": self.status.value,
        }

    @property
    def current(self) -> ReviewItem | None:
        return next((i for i in self.items if i.id == self.list.value), None)

    def _goto(self, page_no: int, select: str | None = None) -> None:
        total = self.review.count(**self.filters)
        pages = max(1, -(-total // self.page_size))
        self.page_no = max(0, min(page_no, pages - 1))
        self.items = self.review.page(self.page_no, self.page_size, **self.filters)
        c = self.review.counts()
        self.page_label.value = (
            f"page {self.page_no + 1} of {pages} · {total} items shown of {sum(c.values())} · "
            f"{c['pending']} undecided, {c['approve']} approved, {c['reject']} rejected"
        )
        options = [(item_label(i), i.id) for i in self.items]
        keep = select if select in {i.id for i in self.items} else (options[0][1] if options else None)
        self._quiet = True  # one redraw, not one per trait change
        try:
            self.list.options = options
            self.list.value = keep
        finally:
            self._quiet = False
        self._show()

    def _show(self) -> None:
        item = self.current
        self.chart.clear_output()
        if item is None:
            self.detail.value = '<div class="sa-muted">no review item matches the filters</div>'
            self.survivor.options = []
            return
        self.detail.value = item_html(self.review, item)
        if item.suggested_survivor is None and item.survivor is None:
            # nothing is merged (an identity link, a worklist item): there is no survivor to choose
            self.survivor.options = [("(no survivor: nothing is merged)", None)]
            self.survivor.value = None
            self.survivor.disabled = True
        else:
            self.survivor.disabled = False
            self.survivor.options = [
                (f"{r}{' (suggested)' if r == item.suggested_survivor else ''}", r) for r in item.records
            ]
            self.survivor.value = item.survivor or item.suggested_survivor
        if item.weighted:
            from syncaudit.explore.splink_charts import waterfall

            with self.chart:
                from IPython.display import display

                chart = waterfall(item)
                if chart is not None:
                    display(chart.lab_bundle(), raw=True)

    # ------------------------------------------------------------ actions (each one a plain review call)

    def _decide(self, decision: str) -> None:
        item = self.current
        if item is None:
            return
        try:
            survivor = self.survivor.value if decision == "approve" and not self.survivor.disabled else None
            d = self.review.decide(item.id, decision, survivor=survivor)
        except SyncAuditError as exc:
            self.message.value = f'<span class="sa-neg">{esc(exc.message)}</span>'
            return
        word = "approved" if d.decision == "approve" else "rejected"
        extra = f", survivor {d.survivor}" if d.survivor else ""
        self.message.value = (
            f'<span class="sa-pos">{esc(word)} {esc(d.item)}{html.escape(extra)} by {esc(d.who)} at {esc(d.when)}</span>'
            f' <span class="sa-muted">saved in {esc(self.review.log.path)}</span>'
        )
        self._advance(item.id)

    def _skip(self) -> None:
        item = self.current
        if item is not None:
            self.message.value = f'<span class="sa-muted">skipped {esc(item.id)}</span>'
            self._advance(item.id)

    def _advance(self, after: str) -> None:
        """Refresh the page and move to the next item of the page (the decided one may leave a filtered list)."""
        ids = [i.id for i in self.items]
        nxt = ids[ids.index(after) + 1] if after in ids and ids.index(after) + 1 < len(ids) else None
        self._goto(self.page_no, select=nxt or after)

    def _move(self, step: int) -> None:
        ids = [i.id for i in self.items]
        if self.list.value in ids:
            j = ids.index(self.list.value) + step
            if 0 <= j < len(ids):
                self.list.value = ids[j]
            elif j >= len(ids):
                self._goto(self.page_no + 1)
            elif self.page_no > 0:
                self._goto(self.page_no - 1)

    def _key(self, change: dict[str, Any]) -> None:
        text = change["new"]
        if not text:
            return
        key = text[-1].lower()
        self.keys.value = ""
        actions = {
            "a": lambda: self._decide("approve"),
            "r": lambda: self._decide("reject"),
            "s": self._skip,
            "j": lambda: self._move(1),
            "k": lambda: self._move(-1),
            "n": lambda: self._goto(self.page_no + 1),
            "p": lambda: self._goto(self.page_no - 1),
        }
        if key in actions:
            actions[key]()

    def _build(self) -> None:
        try:
            plan = self.review.build_plan()
        except SyncAuditError as exc:
            self.plan_info.value = f'<span class="sa-neg">{esc(exc.message)}</span>'
            return
        s = plan.summary()
        cfg = self.review.cfg.source_path or "F"
        self.plan_info.value = (
            f'decided plan <b class="sa-review-plan-hash">{esc(plan.hash)}</b>: {s["writes"]} writes, '
            f"{s['reviews']} review items left · {esc(plan.path)}<br>"
            f"<code>syncaudit apply --config {esc(cfg)} --plan {esc(plan.path)} --confirm {esc(plan.hash)}</code>"
        )

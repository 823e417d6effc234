"""The tables a policy simulation reads, put together: scores joined to feature rows, and the
snapshot chosen. Pure: frames in, a frame out; every problem an InputError naming the table,
column, row or customer.

Scores come as ``loyalty score-batch`` writes them (``customers/``: one row per input row with
``churn`` and ``risk``; ``offers/``: one row per (input row, candidate offer) with
``propensity``), or as one wide table (``churn``, ``risk``, ``propensity`` or
``propensity:<offer_id>``). A score row finds its feature row by:

- ``customer_id`` and ``as_of``, when the scores have ``as_of``;
- ``customer_id`` alone, when the scores hold one row per customer;
- otherwise (score-batch output of a table with several snapshots per customer, which carries no
  ``as_of``): by order, the n-th score row of a customer belonging to that customer's n-th feature
  row, which is how score-batch writes them; a customer with another number of rows on the two
  sides is an error, so scores of another table are never matched by accident. The n-th
  (customer, offer) pair of an offer belongs to the customer's n-th row of the offer's partner.
"""

from __future__ import annotations

import pandas as pd

from features.errors import InputError

SCORE_COLUMNS = ("churn", "risk", "propensity")
LAST, ALL = "last", "all"
_N = "_row_of_customer"


def is_score_column(name: str) -> bool:
    return name in SCORE_COLUMNS or name.startswith("propensity:")


def timestamps(column: pd.Series, where: str) -> pd.Series:
    """A column as UTC timestamps (a bare date is 00:00 UTC); a bad value names its row."""
    try:
        return pd.to_datetime(column, utc=True)
    except (ValueError, TypeError, OverflowError):
        pass
    for i, value in enumerate(column.tolist()):
        try:
            pd.to_datetime(value, utc=True)
        except (ValueError, TypeError, OverflowError):
            raise InputError(f"{where}: row {i}: {value!r} is not a date or timestamp") from None
    raise InputError(f"{where}: not a column of dates or timestamps")


def check_scores(table: pd.DataFrame, source: str) -> None:
    """Score columns must hold probabilities in [0, 1] (missing values are allowed)."""
    for name in [c for c in table.columns if is_score_column(c)]:
        values = pd.to_numeric(table[name], errors="coerce")
        bad = (values.isna() & table[name].notna()) | (values < 0) | (values > 1)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            value = table[name].iloc[row]
            value = value.item() if hasattr(value, "item") else value
            raise InputError(
                f"{source}: column {name!r}, row {row}: {value!r} is not a "
                f"probability in [0, 1] ({int(bad.sum()):,} such rows)"
            )


def attach_scores(
    features: pd.DataFrame,
    customers: pd.DataFrame | None,
    pairs: pd.DataFrame | None,
    partner_id: str | None,
    offer_ids: list[str],
    source: str,
) -> pd.DataFrame:
    """The feature rows with the score columns of ``customers`` (wide) and ``pairs`` (long:
    customer_id, offer_id, propensity; only the policy's ``offer_ids`` are kept, as
    ``propensity:<offer_id>``). Score columns already in ``features`` are replaced."""
    if "customer_id" not in features.columns:
        raise InputError("the feature table needs a customer_id column")
    out = features.reset_index(drop=True)
    by_order = False  # customers matched by order: the pairs written beside them are too
    if customers is not None:
        where = f"{source} (customers)" if pairs is not None else source
        keys = _keys_of(customers, where)
        wide = customers[keys + [c for c in customers if isinstance(c, str) and is_score_column(c)]]
        by_order = keys == ["customer_id"] and bool(customers["customer_id"].duplicated().any())
        out = _join(out, wide, where, None)
    if pairs is not None:
        where = f"{source} (offers)"
        wide = _wide_pairs(pairs, offer_ids, where, by_order)
        out = _join(out, wide, where, partner_id)
    return out


def _keys_of(table: pd.DataFrame, where: str) -> list[str]:
    if "customer_id" not in table.columns:
        raise InputError(f"{where}: no customer_id column")
    return ["customer_id", "as_of"] if "as_of" in table.columns else ["customer_id"]


def _wide_pairs(
    pairs: pd.DataFrame, offer_ids: list[str], where: str, by_order: bool
) -> pd.DataFrame:
    """Long (customer, offer) propensities to one column per offer of the policy; numbered by
    order when ``by_order`` or when a (customer, offer) pair repeats without as_of."""
    missing = [c for c in ("offer_id", "propensity") if c not in pairs.columns]
    if missing:
        raise InputError(f"{where}: no {' or '.join(missing)} column")
    keys = _keys_of(pairs, where)
    mine = pairs[pairs["offer_id"].astype(str).isin(offer_ids)]
    mine = mine.assign(customer_id=mine["customer_id"].astype(str))
    if "as_of" in keys:
        mine = mine.assign(as_of=timestamps(mine["as_of"], f"{where}: column 'as_of'"))
    repeats = bool(len(mine)) and bool(mine.duplicated([*keys, "offer_id"]).any())
    if repeats or (by_order and "as_of" not in keys):
        if repeats and "as_of" in keys:
            first = mine[mine.duplicated([*keys, "offer_id"])].iloc[0]
            raise InputError(
                f"{where}: customer {first['customer_id']} has two propensities for offer "
                f"{first['offer_id']} at {stamp_text(first['as_of'])}"
            )
        mine = mine.assign(**{_N: mine.groupby(["customer_id", "offer_id"]).cumcount()})
        keys = ["customer_id", _N]
    wide = mine.pivot(index=keys, columns="offer_id", values="propensity")
    wide.columns = [f"propensity:{c}" for c in wide.columns]
    return wide.reset_index()


def _join(
    features: pd.DataFrame, scores: pd.DataFrame, where: str, partner_id: str | None
) -> pd.DataFrame:
    """Left-join ``scores`` (customer_id, then as_of or the row-of-customer number) onto the
    feature rows, after checking that every key names one score row."""
    scores = scores.assign(customer_id=scores["customer_id"].astype(str))
    keys = [c for c in ("customer_id", "as_of", _N) if c in scores.columns]
    left = features.assign(_key=features["customer_id"].astype(str))
    if "as_of" in keys:
        if "as_of" not in features.columns:
            raise InputError(f"{where} has an as_of column and the feature table has none")
        scores = scores.assign(as_of=timestamps(scores["as_of"], f"{where}: column 'as_of'"))
        left = left.assign(_as_of=timestamps(features["as_of"], "the feature table: 'as_of'"))
        dup = scores.duplicated(["customer_id", "as_of"])
        if dup.any():
            row = scores[dup].iloc[0]
            raise InputError(
                f"{where}: customer {row['customer_id']} has two rows at {stamp_text(row['as_of'])}"
            )
        right_on = ["customer_id", "as_of"]
        left_on = ["_key", "_as_of"]
    elif _N in keys or scores["customer_id"].duplicated().any():
        scores, left = _numbered(scores, left, where, partner_id)
        right_on, left_on = ["customer_id", _N], ["_key", _N]
    else:
        right_on, left_on = ["customer_id"], ["_key"]
    value_columns = [c for c in scores.columns if c not in (*right_on, _N)]
    left = left.drop(columns=[c for c in value_columns if c in left.columns])
    merged = left.merge(
        scores[[*right_on, *value_columns]].rename(
            columns=dict(zip(right_on, left_on, strict=True))
        ),
        on=left_on,
        how="left",
        validate="many_to_one",
    )
    return merged.drop(columns=[c for c in ("_key", "_as_of", _N) if c in merged.columns])


def _numbered(scores, left, where: str, partner_id: str | None):
    """Number each customer's rows on both sides in order (pairs: only the feature rows of the
    offers' partner) and check that every customer has as many rows on each side."""
    if _N not in scores.columns:
        scores = scores.assign(**{_N: scores.groupby("customer_id").cumcount()})
    own = pd.Series(True, index=left.index)
    if partner_id is not None:
        if "partner_id" not in left.columns:
            raise InputError(
                f"{where}: several rows per customer and no as_of: the feature table needs a "
                "partner_id column to tell which of its rows an offer's scores belong to"
            )
        own = left["partner_id"].astype(str) == partner_id
    left = left.assign(**{_N: left[own].groupby("_key").cumcount()})
    mine = left.loc[own, "_key"].value_counts()
    theirs = scores.groupby("customer_id")[_N].max() + 1
    both = pd.concat([mine.rename("features"), theirs.rename("scores")], axis=1).fillna(0)
    differ = both[both["features"] != both["scores"]]
    if len(differ):
        customer, row = differ.index[0], differ.iloc[0]
        raise InputError(
            f"{where}: customer {customer} has {int(row['scores'])} score row(s) and "
            f"{int(row['features'])} feature row(s) ({len(differ):,} customers differ): with "
            "several rows per customer and no as_of column, the scores must be score-batch "
            "output of this very feature table (`loyalty score-batch --features` the same path)"
        )
    return scores, left


def select_rows(frame: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """The rows to decide for: ``last`` the rows of the table's latest ``as_of`` (a dataset's
    last snapshot), ``all`` every row (each at its own ``as_of``), a timestamp that snapshot's
    rows. A table without ``as_of`` is taken whole (``last`` or ``all``)."""
    if isinstance(as_of, str) and as_of == ALL:
        return frame
    if "as_of" not in frame.columns:
        if isinstance(as_of, str) and as_of == LAST:
            return frame
        raise InputError(f"--as-of {as_of}: the feature table has no as_of column")
    stamps = timestamps(frame["as_of"], "the feature table: column 'as_of'")
    if stamps.isna().any():
        row = int(stamps.isna().to_numpy().nonzero()[0][0])
        raise InputError(f"the feature table: column 'as_of', row {row}: no value")
    target = stamps.max() if isinstance(as_of, str) else pd.Timestamp(as_of)
    chosen = frame[(stamps == target).to_numpy()].reset_index(drop=True)
    if chosen.empty:
        have = ", ".join(stamp_text(t) for t in sorted(stamps.unique())[:12])
        raise InputError(
            f"--as-of {stamp_text(target)}: no rows at that time (the table has: {have})"
        )
    return chosen


def stamp_text(value) -> str:
    """A timestamp as its date when it is midnight UTC, else in ISO form."""
    t = pd.Timestamp(value)
    return t.date().isoformat() if t == t.normalize() else t.isoformat()

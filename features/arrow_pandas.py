"""Arrow columns to pandas Series with one allocation per column, for big event logs.

``pa.ChunkedArray.to_pandas`` builds a column through temporary arrays of its full length
(nullable ints: per-chunk arrays, a concatenation and a cast; dictionaries: int32 codes then
narrowed; zoned timestamps: a second, localised copy). On a 24M-row log those copies and the
fresh memory behind them cost more than decoding the Parquet, so the common types are
written straight into one buffer here, which pandas then wraps without copying. Other types
take ``to_pandas``; both give equal Series (``tests/test_event_io.py`` pins that).

The buffers come from an Arrow memory pool, not from numpy: numpy asks for transparent huge
pages on big arrays, and on the 2-core VMs this was tuned on faulting those in cost ~3.5 s
per GiB against ~0.7 s for ordinary pages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SIGNED = (pa.int8(), pa.int16(), pa.int32(), pa.int64())
_UTC_US = pa.timestamp("us", "UTC")


def memory_pool() -> pa.MemoryPool:
    """jemalloc, else the system allocator (as fast, 7% more peak memory), but not pyarrow's
    default mimalloc: with it a 24M-row read_events took 13-15 s instead of 7-9 s, most of
    the difference in page faults."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def column_to_pandas(column: pa.ChunkedArray) -> pd.Series:
    """The column as pandas: text as categories, signed ints as int64 (Int64 with nulls), bools
    with nulls as boolean."""
    t = column.type
    if is_text(t):
        column, t = column.dictionary_encode(), pa.dictionary(pa.int32(), t)
    if _is_text_dictionary(t) and not any(c.dictionary.null_count for c in column.chunks):
        return pd.Series(_categorical(column), copy=False)
    nullable = column.null_count > 0
    if t == _UTC_US and not nullable:  # to_pandas would localise a second copy
        array = column.combine_chunks(memory_pool=memory_pool())
        return pd.Series(pd.DatetimeTZDtype("us", "UTC").__from_arrow__(array), copy=False)
    if t == pa.float64():
        return pd.Series(_concatenated(column, np.float64, np.nan), copy=False)
    if t in _SIGNED and nullable:
        values = _concatenated(column, np.int64, 0)
        return pd.Series(pd.arrays.IntegerArray(values, _null_mask(column)), copy=False)
    if t in _SIGNED:  # widened now, as validation would widen them anyway
        return pd.Series(_concatenated(column, np.int64), copy=False)
    if pa.types.is_integer(t) and nullable:  # unsigned: checked cast, as validation expects
        return column.to_pandas(types_mapper={t: pd.Int64Dtype()}.get).astype("Int64")
    if pa.types.is_boolean(t) and nullable:
        values = _concatenated(column, np.bool_, False)
        return pd.Series(pd.arrays.BooleanArray(values, _null_mask(column)), copy=False)
    return column.to_pandas()


def _empty(n: int, dtype: type[np.generic]) -> np.ndarray:
    """An uninitialised numpy array over an Arrow buffer (see the module docstring)."""
    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(n * dtype.itemsize, memory_pool()), dtype)


def _concatenated(
    column: pa.ChunkedArray, dtype: type[np.generic], fill: float | None = None
) -> np.ndarray:
    """The chunks' values (``fill`` under nulls) copied one by one into a single buffer."""
    values = _empty(len(column), dtype)
    start = 0
    for chunk in column.chunks:
        dense = pc.fill_null(chunk, fill) if chunk.null_count else chunk
        values[start : start + len(chunk)] = dense.to_numpy(zero_copy_only=False)  # bools: bits
        start += len(chunk)
    return values


def _null_mask(column: pa.ChunkedArray) -> np.ndarray:
    mask = _empty(len(column), np.bool_)
    start = 0
    for chunk in column.chunks:
        mask[start : start + len(chunk)] = chunk.is_null().to_numpy(zero_copy_only=False)
        start += len(chunk)
    return mask


def _is_text_dictionary(t: pa.DataType) -> bool:
    return pa.types.is_dictionary(t) and is_text(t.value_type) and not t.ordered


def _code_dtype(n_categories: int) -> type[np.signedinteger]:
    """The narrowest code type, chosen as ``pd.Categorical`` would (so it makes no copy)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """Categories in Arrow's unification order (each chunk's new values in turn), as to_pandas.

    Each chunk's codes are translated through a small per-chunk lookup straight into the final
    array, instead of ``unify_dictionaries`` rewriting every chunk's int32 indices first.
    """
    dictionaries = [c.dictionary for c in column.chunks]
    value_type = column.type.value_type
    categories = pc.unique(pa.chunked_array(dictionaries, value_type))
    codes = _empty(len(column), _code_dtype(len(categories)))
    start = 0
    for chunk, dictionary in zip(column.chunks, dictionaries, strict=True):
        lookup = pc.index_in(dictionary, categories).to_numpy(zero_copy_only=False)
        indices = (
            pc.fill_null(chunk.indices, -1) if chunk.null_count else chunk.indices
        ).to_numpy()
        out = codes[start : start + len(chunk)]
        if np.array_equal(lookup, np.arange(len(lookup))):  # the usual case: 30x faster than take
            out[:] = indices
        else:  # index -1 (null) takes the appended -1
            np.take(np.append(lookup, -1).astype(codes.dtype), indices, out=out)
        start += len(chunk)
    names = categories.to_numpy(zero_copy_only=False)
    dtype = pd.CategoricalDtype(pd.Index(names, dtype=object))
    return pd.Categorical.from_codes(codes, dtype=dtype)

"""faust tables as the core sees them: a table whose changelog writes can be
awaited (so offsets are never committed ahead of state), and a plain mapping view.

The tables hold JSON *bytes* (faust's ``raw`` serializer) that the mapping view
encodes and decodes itself: with faust's ``json`` serializer every write was
encoded twice, once for RocksDB and once for the changelog, through faust's
codec registry. The bytes are those faust's codec wrote (orjson, non-string
keys allowed), so changelogs written before read the same."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust
import orjson


class DeliveredTable(faust.Table):
    """A table that can wait until its changelog writes are on the broker.

    faust commits a stream's offsets after ``producer.flush()``, but that flush
    gives up when its buffer makes no progress for 0.1 s, so an offset could be
    committed ahead of the table writes it caused; a kill -9 then loses them
    (seen as 1-6 missing records in a thousand). The agents therefore await
    ``delivered()`` before their events can be acked.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[asyncio.Future] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self._unsent.append(fut)
        return fut

    async def delivered(self) -> None:
        while self._unsent:
            futs, self._unsent = self._unsent, []
            await asyncio.gather(*futs)



def delivered_table(app: faust.App, name: str, partitions: int) -> DeliveredTable:
    table = DeliveredTable(app, name=name, default=None, beacon=app.tables.beacon, partitions=partitions,
                           value_type=bytes)  # stored and sent as the bytes TableMapping encodes
    app.tables.add(table)
    return table


def encode_value(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def decode_values(raw: dict[str, bytes]) -> dict[str, Any]:
    """A copy of a table (key -> JSON bytes) as the core reads it."""
    return {key: orjson.loads(value) for key, value in raw.items()}


class TableMapping(MutableMapping[str, dict]):
    """A faust Table of JSON bytes seen as the plain mapping the core expects."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> dict:
        return orjson.loads(self.table[key])

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.table.get(key)
        return default if raw is None else orjson.loads(raw)

    def __setitem__(self, key: str, value: dict) -> None:
        self.table[key] = encode_value(value)

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.keys()))

    def __len__(self) -> int:
        return len(self.table)

    def items(self):  # type: ignore[override]
        return [(key, orjson.loads(value)) for key, value in self.table.items()]

    def keys(self):  # type: ignore[override]
        return list(self.table.keys())

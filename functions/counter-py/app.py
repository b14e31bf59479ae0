"""`counter-py`: the Python twin of the Rust `counter`.

Increments key `visits` (or the input, when not empty) in the bucket's
default key-value store with `wasi:keyvalue/atomics.increment` and answers
the new count as text; a host error is answered as `error: Error::<case>`,
as the Rust guest does. World `faas-exec-keyvalue`, built with
componentize-py (see scripts/build-functions.sh).
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import atomics, store


def shown(error: object) -> str:
    case = type(error).__name__.replace("Error_", "Error::")
    if isinstance(error, store.Error_Other):
        return f"{case}({json.dumps(error.value)})"
    return case


class WitWorld(wit_world.WitWorld):
    def exec(self, input: str) -> str:
        key = input.strip() or "visits"
        try:
            with store.open("") as bucket:
                return str(atomics.increment(bucket, key, 1))
        except Err as err:  # the host's error is the answer, not a trap
            return f"error: {shown(err.value)}"

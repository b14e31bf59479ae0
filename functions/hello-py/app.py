"""`hello-py`: greets the `name` from a JSON input such as `{"name":"World"}`.

The Python twin of the Rust `hello`: the same input gives the same output.
Built with componentize-py (see scripts/build-functions.sh).
"""

import json

import wit_world


class WitWorld(wit_world.WitWorld):
    def exec(self, input: str) -> str:
        # stdout is captured by the platform (`?logs=true`).
        print(f"hello-py: {len(input)} characters in")
        try:
            name = json.loads(input)["name"]
            if not isinstance(name, str):
                raise TypeError("name is not a string")
        except Exception as err:  # any bad input is answered, not trapped
            return f'error: expected JSON {{"name": "..."}} ({err})'
        return f"Hello {name}, how are you?"

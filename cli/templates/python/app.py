"""{{name}}: a wasm-faas function. The platform calls `exec` once per
invocation with the request body and answers with what it returns."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def exec(self, input: str) -> str:
        # Written to stdout: `faas invoke --logs` shows it.
        print(f"{{name}} got {len(input)} characters")
        return f"Hello from {{name}}: {input}"

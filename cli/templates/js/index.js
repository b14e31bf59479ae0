// {{name}}: a wasm-faas function. The platform calls `exec` once per
// invocation with the request body and answers with what it returns.

export function exec(input) {
  // Written to stdout: `faas invoke --logs` shows it.
  console.log(`{{name}} got ${input.length} characters`);
  return `Hello from {{name}}: ${input}`;
}

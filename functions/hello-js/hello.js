// `hello-js`: greets the `name` from a JSON input such as `{"name":"World"}`.
//
// The JavaScript twin of the Rust `hello`: the same input gives the same
// output. Built with componentize-js (see scripts/build-functions.sh).

export function exec(input) {
  // stdout is captured by the platform (`?logs=true`).
  console.log(`hello-js: ${input.length} characters in`);
  let name;
  try {
    name = JSON.parse(input).name;
    if (typeof name !== "string") throw new TypeError("name is not a string");
  } catch (err) {
    return `error: expected JSON {"name": "..."} (${err.message})`;
  }
  return `Hello ${name}, how are you?`;
}

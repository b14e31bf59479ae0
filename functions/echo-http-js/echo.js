// `echo-http-js`: an HTTP handler (`wasi:http/proxy`) in JavaScript.
//
// GET (and every method but POST and PUT) answers the request as JSON:
// `{"method", "path", "query", "headers", "lang"}`, the query `null` when
// there is none. POST and PUT echo the body with its content type
// (`application/octet-stream` when it has none); `?status=N` sets the
// status; every answer carries `x-echo: 1`. The JavaScript twin of the
// Rust `echo-http`, written against the web's fetch event. Built with
// componentize-js (see scripts/build-functions.sh).

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  const asked = Number(url.searchParams.get("status"));
  const status = Number.isInteger(asked) && asked >= 200 && asked <= 599 ? asked : 200;
  const headers = { "x-echo": "1" };
  if (request.method === "POST" || request.method === "PUT") {
    headers["content-type"] = request.headers.get("content-type") ?? "application/octet-stream";
    return new Response(await request.arrayBuffer(), { status, headers });
  }
  headers["content-type"] = "application/json";
  const body = JSON.stringify({
    method: request.method,
    path: url.pathname,
    query: url.search.slice(1) || null,
    headers: Object.fromEntries(request.headers), // repeated values joined by ", "
    lang: "javascript",
  });
  return new Response(body, { status, headers });
}

// `echo-http-js`: an HTTP handler (`wasi:http/proxy`) in JavaScript.
//
// GET (or any method without a body) answers the request as JSON; POST and
// PUT echo the body with its content type; `?status=N` sets the status;
// every answer carries `x-echo: 1`. The JavaScript twin of the Rust
// `echo-http`, written against the web's fetch event. Built with
// componentize-js (see scripts/build-functions.sh).

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  const status = Number(url.searchParams.get("status") ?? 200);
  const headers = new Headers({ "x-echo": "1" });
  if (request.method === "POST" || request.method === "PUT") {
    const type = request.headers.get("content-type");
    if (type) headers.set("content-type", type);
    return new Response(await request.arrayBuffer(), { status, headers });
  }
  headers.set("content-type", "application/json");
  const body = JSON.stringify({
    method: request.method,
    path: url.pathname,
    query: url.search.slice(1),
    headers: Object.fromEntries(request.headers),
    lang: "javascript",
  });
  return new Response(body, { status, headers });
}

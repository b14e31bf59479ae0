//! Bearer tokens and scopes, end to end: every route against every kind of
//! caller (no token, a wrong one, an expired one, a revoked one, each scope
//! on the right bucket and on another, admin), and revocation seen by two
//! api processes within a second. Real nats-server, real S3, the real
//! dispatcher and executor.

use std::time::{Duration, Instant};

use e2e::{Platform, json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json as j};

/// The bucket the scoped tokens are about.
const MINE: &str = "team-a";
/// Another bucket, holding the same function.
const OTHER: &str = "team-b";

/// Creates a token as the test admin; returns the token and its id.
async fn mint(
    platform: &Platform,
    base: &str,
    scopes: &[&str],
    expires_in_secs: Option<u64>,
) -> (String, String) {
    let mut body = j!({ "name": format!("test {scopes:?}"), "scopes": scopes });
    if let Some(secs) = expires_in_secs {
        body["expires_in_secs"] = secs.into();
    }
    let (status, body) =
        json(platform.http.post(format!("{base}/tokens")).json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["token"].as_str().unwrap().to_owned(), body["id"].as_str().unwrap().to_owned())
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// Who calls, and what each may do in [`MINE`].
struct Caller {
    label: &'static str,
    token: Option<String>,
    /// The scopes it holds in [`MINE`] (`admin` for everything); `None`:
    /// not authenticated at all.
    holds: Option<&'static [&'static str]>,
}

/// One route, the scopes of which any one lets it through, and the answer
/// then. The bucket routes' allowed answers are 409 so the fixtures stay.
struct Route {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    needs: &'static [&'static str],
    allowed: StatusCode,
}

fn route(method: Method, path: &'static str, needs: &'static [&'static str], allowed: StatusCode) -> Route {
    Route { method, path, body: None, needs, allowed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_each_caller_as_its_scopes_say() {
    let platform = Platform::start().await;
    for bucket in [MINE, OTHER] {
        platform.create_bucket(bucket).await;
        platform.deploy(bucket, "hello", "hello").await;
    }
    let base = platform.base.clone();
    let (status, job) =
        json(platform.http.post(platform.url("/async/team-a/hello")).body("x").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job_path: &'static str = format!("/jobs/{}", job["job_id"].as_str().unwrap()).leak();
    let redrive_path: &'static str = format!("{job_path}/redrive").leak();

    let (expired, _) = mint(&platform, &base, &["admin"], Some(1)).await;
    let (revoked, revoked_id) = mint(&platform, &base, &["admin"], None).await;
    let revoke = platform.http.delete(format!("{base}/tokens/{revoked_id}")).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let mut callers = vec![
        Caller { label: "no token", token: None, holds: None },
        Caller {
            label: "wrong token",
            token: Some(format!("faas_{}_{}", "0".repeat(32), "1".repeat(64))),
            holds: None,
        },
        Caller { label: "garbage token", token: Some("nonsense".into()), holds: None },
        Caller { label: "expired", token: Some(expired), holds: None },
        Caller { label: "revoked", token: Some(revoked), holds: None },
        Caller { label: "admin", token: Some(e2e::TEST_ADMIN_TOKEN.into()), holds: Some(&["admin"]) },
    ];
    for (label, scope, holds) in [
        ("deploy:team-a", "deploy:team-a", &["deploy"][..]),
        ("invoke:team-a", "invoke:team-a", &["invoke"][..]),
        ("read:team-a", "read:team-a", &["read"][..]),
        ("read:*", "read:*", &["read"][..]),
        ("deploy:team-b", "deploy:team-b", &[][..]),
        ("invoke:team-b", "invoke:team-b", &[][..]),
        ("read:team-b", "read:team-b", &[][..]),
    ] {
        let (token, _) = mint(&platform, &base, &[scope], None).await;
        callers.push(Caller { label, token: Some(token), holds: Some(holds) });
    }
    // The expired token's second is over by the time the matrix runs.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let trigger = j!({ "subject": "events.team-a", "function": "team-a/hello" });
    let pipeline = j!({ "steps": ["team-a/hello"] });
    // Any valid token lists; the lists are filtered (checked below).
    let anyone: &[&str] = &[];
    let routes = vec![
        route(Method::GET, "/bucket", anyone, StatusCode::OK),
        route(Method::PUT, "/bucket/team-a", &["deploy"], StatusCode::CONFLICT),
        route(Method::GET, "/bucket/team-a", &["read"], StatusCode::OK),
        Route {
            body: Some(j!({ "public_invoke": false })),
            ..route(Method::PATCH, "/bucket/team-a", &["deploy"], StatusCode::OK)
        },
        route(Method::DELETE, "/bucket/team-a", &["deploy"], StatusCode::CONFLICT),
        route(Method::GET, "/file/team-a/hello", &["read"], StatusCode::OK),
        route(Method::DELETE, "/file/team-a/nothing-here", &["deploy"], StatusCode::NOT_FOUND),
        route(Method::POST, "/exec/team-a/hello", &["invoke"], StatusCode::OK),
        route(Method::POST, "/async/team-a/hello", &["invoke"], StatusCode::ACCEPTED),
        route(Method::GET, "/jobs", anyone, StatusCode::OK),
        route(Method::GET, job_path, &["read", "invoke"], StatusCode::OK),
        // Not failed: refused after the scope check, which is what is tested.
        route(Method::POST, redrive_path, &["invoke"], StatusCode::BAD_REQUEST),
        Route { body: Some(trigger), ..route(Method::PUT, "/trigger/t-a", &["deploy"], StatusCode::OK) },
        route(Method::GET, "/trigger", anyone, StatusCode::OK),
        route(Method::GET, "/trigger/t-a", &["read", "deploy"], StatusCode::OK),
        Route { body: Some(pipeline), ..route(Method::PUT, "/pipeline/p-a", &["deploy"], StatusCode::OK) },
        route(Method::GET, "/pipeline", anyone, StatusCode::OK),
        route(Method::GET, "/pipeline/p-a", &["read", "deploy"], StatusCode::OK),
        route(Method::POST, "/exec/pipeline/p-a", &["invoke"], StatusCode::OK),
        route(Method::POST, "/async/pipeline/p-a", &["invoke"], StatusCode::ACCEPTED),
        route(Method::GET, "/tokens", &["admin"], StatusCode::OK),
        route(Method::DELETE, "/tokens/00000000000000000000000000000000", &["admin"], StatusCode::NOT_FOUND),
        route(Method::GET, "/audit", &["admin"], StatusCode::OK),
        route(Method::GET, "/logs/team-a/hello", &["read"], StatusCode::OK),
    ];
    // Definitions exist before the callers that may not write them try.
    for (path, body) in [("/trigger/t-a", &routes[12]), ("/pipeline/p-a", &routes[15])] {
        let response = send(&platform.http, &base, None, Method::PUT, path, body.body.as_ref()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}: {:?}", response.text().await);
    }

    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for route in &routes {
        for caller in &callers {
            let response = send(
                &http,
                &base,
                caller.token.as_deref(),
                route.method.clone(),
                route.path,
                route.body.as_ref(),
            )
            .await;
            let status = response.status();
            let challenged = response.headers().get("www-authenticate").is_some();
            // A download answers the component, not JSON.
            let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
            let expected = match caller.holds {
                None => StatusCode::UNAUTHORIZED,
                Some(holds)
                    if route.needs.is_empty()
                        || holds.iter().any(|h| *h == "admin" || route.needs.contains(h)) =>
                {
                    route.allowed
                }
                Some(_) => StatusCode::FORBIDDEN,
            };
            let code = body["error"]["code"].as_str();
            let code_ok = match expected {
                StatusCode::UNAUTHORIZED => code == Some("unauthenticated") && challenged,
                // The message names the missing scope.
                StatusCode::FORBIDDEN => {
                    code == Some("forbidden")
                        && body["error"]["message"].as_str().is_some_and(|m| m.contains("lacks the scope"))
                }
                _ => true,
            };
            if status != expected || !code_ok {
                failures.push(format!(
                    "{} {} as {}: {status} (expected {expected}) {body}",
                    route.method, route.path, caller.label
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong answers:\n{}", failures.len(), failures.join("\n"));

    // Lists show only what the token may read.
    let read_b = callers.iter().find(|c| c.label == "read:team-b").unwrap().token.clone();
    let (_, buckets) = json(send(&http, &base, read_b.as_deref(), Method::GET, "/bucket", None).await).await;
    let names: Vec<&str> =
        buckets["buckets"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, [OTHER], "{buckets}");
    let (_, jobs) = json(send(&http, &base, read_b.as_deref(), Method::GET, "/jobs", None).await).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "team-b sees no team-a job: {jobs}");
    let (_, pipelines) =
        json(send(&http, &base, read_b.as_deref(), Method::GET, "/pipeline", None).await).await;
    assert_eq!(pipelines["pipelines"].as_array().unwrap().len(), 0, "{pipelines}");
    let read_a = callers.iter().find(|c| c.label == "read:team-a").unwrap().token.clone();
    let (_, jobs) = json(send(&http, &base, read_a.as_deref(), Method::GET, "/jobs", None).await).await;
    assert!(!jobs["jobs"].as_array().unwrap().is_empty(), "{jobs}");

    // A bucket the token cannot see answers 403 whether it exists or not.
    for path in ["/bucket/team-b", "/bucket/no-such-bucket"] {
        let response = send(&http, &base, read_a.as_deref(), Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // The probes are public by default, and `/ready` says auth is on.
    let (status, ready) = json(http.get(format!("{base}/ready")).send().await.unwrap()).await;
    assert_eq!((status, ready["auth"].as_str()), (StatusCode::OK, Some("on")), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_grants_more_than_it_holds_and_secrets_are_never_listed() {
    let platform = Platform::start().await;
    let base = platform.base.clone();
    let (deployer, _) = mint(&platform, &base, &["deploy:*"], None).await;
    let http = reqwest::Client::new();
    let body = j!({ "name": "escalation", "scopes": ["deploy:team-a"] });
    let response = send(&http, &base, Some(&deployer), Method::POST, "/tokens", Some(&body)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    for bad in [
        j!({ "name": "x", "scopes": [] }),
        j!({ "name": "x", "scopes": ["root"] }),
        j!({ "scopes": ["admin"] }),
    ] {
        let response = platform.http.post(format!("{base}/tokens")).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let listed = platform.http.get(format!("{base}/tokens")).send().await.unwrap().text().await.unwrap();
    let secret = deployer.rsplit('_').next().unwrap();
    assert!(!listed.contains(secret) && !listed.contains("sha256"), "{listed}");
    assert!(listed.contains("deploy:*"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_is_refused_by_every_api_within_a_second() {
    let mut platform = Platform::start().await;
    let first = platform.base.clone();
    let second = platform.add_api().await;
    let http = reqwest::Client::new();
    // Made on one api, it works on the other at once.
    let (token, id) = mint(&platform, &first, &["read:*"], None).await;
    for base in [&first, &second] {
        let response = send(&http, base, Some(&token), Method::GET, "/bucket", None).await;
        assert_eq!(response.status(), StatusCode::OK, "{base}");
    }
    let started = Instant::now();
    let response = platform.http.delete(format!("{first}/tokens/{id}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for base in [&first, &second] {
        loop {
            let response = send(&http, base, Some(&token), Method::GET, "/bucket", None).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "{base} still accepts a revoked token");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(1), "revocation took {:?}", started.elapsed());
    let (status, _) = json(platform.http.delete(format!("{first}/tokens/{id}")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_use_of_a_token_is_shared_by_every_api() {
    let mut platform = Platform::start().await;
    let first = platform.base.clone();
    platform.api_config_mut().token_usage_flush_secs = 1;
    let second = platform.add_api().await;
    let http = reqwest::Client::new();
    let (token, id) = mint(&platform, &first, &["read:*"], None).await;
    let last_use = |listed: &Value| {
        let tokens = listed["tokens"].as_array().unwrap();
        tokens.iter().find(|token| token["id"] == id.as_str()).unwrap()["last_used_at_ms"].as_u64()
    };
    let (_, listed) = json(platform.http.get(format!("{first}/tokens")).send().await.unwrap()).await;
    assert_eq!(last_use(&listed), None, "never used: {listed}");
    // Used on the second api only; the first lists it within the flush
    // interval (1 s here) and a bit.
    let used_at = protocol::jobs::now_ms();
    let response = send(&http, &second, Some(&token), Method::GET, "/bucket", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let started = Instant::now();
    loop {
        let (status, listed) = json(platform.http.get(format!("{first}/tokens")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        if let Some(at) = last_use(&listed) {
            assert!(at >= used_at, "{at} < {used_at}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the first api never saw the use: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

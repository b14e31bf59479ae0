//! The HTTP front door against a whole platform: what it refuses before
//! anything is stored.

use e2e::{Platform, error_code};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_calls_of_what_does_not_exist_are_404s_and_store_nothing() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    for (path, code) in [
        ("/async/functions/nofn", "function_not_found"),
        ("/async/nobucket/nofn", "function_not_found"),
        ("/async/pipeline/nopipe", "pipeline_not_found"),
    ] {
        let resp = platform.http.post(platform.url(path)).body("{}").send().await.unwrap();
        let (status, body) = e2e::json(resp).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, code), "{path}: {body}");
    }
    let (_, listed) = e2e::json(platform.http.get(platform.url("/jobs")).send().await.unwrap()).await;
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(0), "{listed}");

    // A deployed function is accepted as before.
    let resp = platform.http.post(platform.url("/async/functions/hello")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

//! `faas` end to end: the binary against a whole in-process platform.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use e2e::{Platform, TEST_ADMIN_TOKEN};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A `faas` command pointed at `url` with `token`, and a config file of its
/// own (never the user's).
fn faas(url: &str, token: Option<&str>, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_faas"));
    command
        .args(args)
        .env("FAAS_URL", url)
        .env("FAAS_CONFIG", config.join("config.toml"))
        .env_remove("FAAS_PROFILE")
        .env_remove("FAAS_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("FAAS_TOKEN", token);
    }
    command
}

/// Runs `faas` as the admin against `platform`.
async fn run(platform: &Platform, config: &Path, args: &[&str]) -> Output {
    faas(&platform.base, Some(TEST_ADMIN_TOKEN), config, args).output().await.unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(output), stderr(output));
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_invoke_list_and_remove() {
    let platform = Platform::start().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();
    let hello = stack::guests::guest_path("hello");
    let chatty = stack::guests::guest_path("chatty");

    let deployed =
        run(&platform, config, &["deploy", "functions/hello", hello.to_str().unwrap(), "--create-bucket"])
            .await;
    assert_exit(&deployed, 0);
    assert!(
        stdout(&deployed).starts_with("deployed functions/hello: ") && stdout(&deployed).contains("sha256:")
    );
    let deployed =
        run(&platform, config, &["deploy", "functions/chatty", chatty.to_str().unwrap(), "-o", "json"]).await;
    assert_exit(&deployed, 0);
    let answer = json(&deployed);
    assert_eq!((answer["bucket"].as_str(), answer["function"].as_str()), (Some("functions"), Some("chatty")));
    assert_eq!(answer["digest"].as_str().unwrap().len(), 64);
    assert!(answer["elapsed_ms"].is_u64());

    // The raw result, not the envelope.
    let invoked =
        run(&platform, config, &["invoke", "functions/hello", "--data", r#"{"name":"World"}"#]).await;
    assert_exit(&invoked, 0);
    assert_eq!(stdout(&invoked), "Hello World, how are you?\n");
    let mut with_stdin =
        faas(&platform.base, Some(TEST_ADMIN_TOKEN), config, &["invoke", "functions/chatty", "--logs"]);
    let mut child =
        with_stdin.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut child.stdin.take().unwrap(), b"hi").await.unwrap();
    let logged = child.wait_with_output().await.unwrap();
    assert_exit(&logged, 0);
    assert_eq!(stdout(&logged), "chatty: hi\n");
    assert!(
        stderr(&logged).contains("stdout: hi") && stderr(&logged).contains("stderr: hi"),
        "{}",
        stderr(&logged)
    );
    let invoked =
        run(&platform, config, &["invoke", "functions/chatty", "-d", "hi", "--logs", "-o", "json"]).await;
    assert_exit(&invoked, 0);
    let answer = json(&invoked);
    assert_eq!(
        (answer["result"].as_str(), answer["stdout"].as_str()),
        (Some("chatty: hi"), Some("stdout: hi\n"))
    );
    assert_eq!(answer["digest"].as_str().unwrap().len(), 64);

    let waited = run(
        &platform,
        config,
        &["invoke", "functions/hello", "-d", r#"{"name":"Job"}"#, "--async", "--wait"],
    )
    .await;
    assert_exit(&waited, 0);
    assert_eq!(stdout(&waited), "Hello Job, how are you?\n");
    let submitted =
        run(&platform, config, &["invoke", "functions/hello", "-d", "{}", "--async", "-o", "json"]).await;
    assert_exit(&submitted, 0);
    let job_id = json(&submitted)["job_id"].as_str().unwrap().to_owned();
    let jobs = run(&platform, config, &["jobs", "ls", "-o", "json"]).await;
    assert_exit(&jobs, 0);
    assert!(json(&jobs)["jobs"].as_array().unwrap().iter().any(|job| job["job_id"] == job_id.as_str()));

    let buckets = run(&platform, config, &["ls"]).await;
    assert_exit(&buckets, 0);
    assert!(stdout(&buckets).lines().any(|line| line.starts_with("functions ")), "{}", stdout(&buckets));
    let functions = run(&platform, config, &["ls", "functions", "-o", "json"]).await;
    assert_exit(&functions, 0);
    let names: Vec<String> = json(&functions)["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().into())
        .collect();
    assert_eq!(names, ["chatty", "hello"]);

    let download = config.join("copy.wasm");
    let got = run(&platform, config, &["get", "functions/hello", download.to_str().unwrap()]).await;
    assert_exit(&got, 0);
    assert_eq!(std::fs::read(&download).unwrap(), std::fs::read(&hello).unwrap());

    let pipeline = run(&platform, config, &["pipelines", "put", "greet", "functions/hello"]).await;
    assert_exit(&pipeline, 0);
    let ran = run(&platform, config, &["pipelines", "run", "greet", "-d", r#"{"name":"Pipe"}"#]).await;
    assert_exit(&ran, 0);
    assert_eq!(stdout(&ran), "Hello Pipe, how are you?\n");
    assert_exit(&run(&platform, config, &["pipelines", "rm", "greet"]).await, 0);

    // Each upload is a version: hello twice (the second with chatty's
    // bytes), newest first, the current one marked.
    let redeployed =
        run(&platform, config, &["deploy", "functions/hello", chatty.to_str().unwrap(), "-o", "json"]).await;
    assert_exit(&redeployed, 0);
    let newest = json(&redeployed)["digest"].as_str().unwrap().to_owned();
    let versions = run(&platform, config, &["versions", "functions/hello", "-o", "json"]).await;
    assert_exit(&versions, 0);
    let listed = json(&versions)["versions"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (listed[0]["digest"].as_str(), &listed[0]["current"]),
        (Some(newest.as_str()), &Value::Bool(true))
    );
    assert_eq!(listed[1]["current"], false);
    let table = run(&platform, config, &["versions", "functions/hello"]).await;
    assert_exit(&table, 0);
    let printed = stdout(&table);
    let rows: Vec<&str> = printed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{printed}");
    assert!(rows[0].starts_with(&format!("*  {newest}")), "{printed}");

    // Shadow the current version with the older one, report, stop.
    let older = listed[1]["digest"].as_str().unwrap().to_owned();
    let shadow =
        run(&platform, config, &["shadow", "functions/hello", &older[..12], "--sample", "1", "-o", "json"])
            .await;
    assert_exit(&shadow, 0);
    assert_eq!(json(&shadow)["candidate"], older.as_str());
    let report = run(&platform, config, &["shadow", "functions/hello", "--report", "-o", "json"]).await;
    assert_exit(&report, 0);
    assert_eq!(json(&report)["config"]["candidate"], older.as_str());
    assert_exit(&run(&platform, config, &["shadow", "functions/hello", "--stop"]).await, 0);
    let stopped = run(&platform, config, &["shadow", "functions/hello"]).await;
    assert_exit(&stopped, 1);
    assert!(stderr(&stopped).contains("shadow_not_found (404)"), "{}", stderr(&stopped));
    // An alias names the older version; rollback makes it current again.
    let older = listed[1]["digest"].as_str().unwrap().to_owned();
    let aliased =
        run(&platform, config, &["alias", "functions/hello", "stable", &older[..12], "-o", "json"]).await;
    assert_exit(&aliased, 0);
    assert_eq!(json(&aliased)["version"], older.as_str());
    let rolled = run(&platform, config, &["rollback", "functions/hello", "-o", "json"]).await;
    assert_exit(&rolled, 0);
    assert_eq!(json(&rolled)["version"], older.as_str());
    let bad = run(&platform, config, &["alias", "functions/hello", "canary", &older, "--weight", "x"]).await;
    assert_exit(&bad, 2);

    let removed = run(&platform, config, &["rm", "functions/hello"]).await;
    assert_exit(&removed, 0);
    let gone = run(&platform, config, &["invoke", "functions/hello", "-d", "{}"]).await;
    assert_exit(&gone, 1);
    assert!(stderr(&gone).contains("function_not_found (404)"), "{}", stderr(&gone));
    let not_empty = run(&platform, config, &["rm", "functions"]).await;
    assert_exit(&not_empty, 1);
    assert_exit(&run(&platform, config, &["rm", "functions", "--force"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_failure_class_has_its_exit_code() {
    let platform = Platform::start().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();

    // --help shows where the token comes from, never its value.
    let help = run(&platform, config, &["--help"]).await;
    assert_exit(&help, 0);
    assert!(stdout(&help).contains("FAAS_TOKEN") && !stdout(&help).contains(TEST_ADMIN_TOKEN));

    // 2: usage, whether clap or the command says so.
    for args in [
        &["invoke", "not-a-reference"][..],
        &["nonsense"],
        &["invoke", "a/b", "--wait"],
        &["new", "fn", "--lang", "python", "--world", "http"],
        &["build", config.to_str().unwrap()],
    ] {
        let output = run(&platform, config, args).await;
        assert_exit(&output, 2);
    }
    let bad_url = faas("localhost:3000", None, config, &["ls"]).output().await.unwrap();
    assert_exit(&bad_url, 2);
    let http = run(&platform, config, &["new", "fn", "--lang", "js", "--world", "http"]).await;
    assert!(stderr(&http).contains("not supported yet"), "{}", stderr(&http));
    let no_project = run(&platform, config, &["build", config.to_str().unwrap()]).await;
    assert!(stderr(&no_project).contains("not a function project"), "{}", stderr(&no_project));

    // 1: the platform's error, code and message; JSON on stderr with -o json.
    let missing = run(&platform, config, &["invoke", "functions/nope", "-o", "json"]).await;
    assert_exit(&missing, 1);
    let error: Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["status"].as_u64()),
        (Some("bucket_not_found"), Some(404))
    );
    platform.create_bucket("functions").await;
    let missing = run(&platform, config, &["invoke", "functions/nope"]).await;
    assert_exit(&missing, 1);
    assert!(stderr(&missing).starts_with("error: function_not_found (404): "), "{}", stderr(&missing));

    // 1 with a hint: the token.
    let refused = faas(&platform.base, Some("wrong"), config, &["ls"]).output().await.unwrap();
    assert_exit(&refused, 1);
    assert!(stderr(&refused).contains("unauthenticated (401)"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("hint: the token"), "{}", stderr(&refused));

    // 3: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let unreachable = faas(&url, None, config, &["ls"]).output().await.unwrap();
    assert_exit(&unreachable, 3);
    assert!(stderr(&unreachable).contains("is scripts/up.sh running?"), "{}", stderr(&unreachable));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_keeps_a_private_profile_and_tokens_are_managed() {
    let platform = Platform::start().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();

    let bad = faas(&platform.base, Some("wrong"), config, &["login", &platform.base]).output().await.unwrap();
    assert_exit(&bad, 1);
    assert!(!config.join("config.toml").exists(), "a refused login stores nothing");
    let login = run(&platform, config, &["login", &platform.base, "--profile", "local"]).await;
    assert_exit(&login, 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.join("config.toml")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Neither FAAS_URL nor FAAS_TOKEN: the profile says both.
    let mut ls = faas(
        &platform.base,
        None,
        config,
        &["tokens", "create", "reader", "--scope", "read:functions", "-o", "json"],
    );
    let created = ls.env_remove("FAAS_URL").output().await.unwrap();
    assert_exit(&created, 0);
    let created = json(&created);
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let listed = run(&platform, config, &["tokens", "ls", "-o", "json"]).await;
    assert_exit(&listed, 0);
    assert!(json(&listed)["tokens"].as_array().unwrap().iter().any(|t| t["id"] == id));
    assert!(!stdout(&listed).contains(token), "listing shows no secret");

    // 403 gets its hint.
    let forbidden = faas(&platform.base, Some(token), config, &["tokens", "ls"]).output().await.unwrap();
    assert_exit(&forbidden, 1);
    assert!(stderr(&forbidden).contains("forbidden (403)") && stderr(&forbidden).contains("hint: "));
    assert_exit(&run(&platform, config, &["tokens", "revoke", id]).await, 0);
    let revoked = faas(&platform.base, Some(token), config, &["ls"]).output().await.unwrap();
    assert_exit(&revoked, 1);

    let unknown = run(&platform, config, &["ls", "--profile", "elsewhere"]).await;
    assert_exit(&unknown, 2);
}

/// One bounded test of the local loop: it compiles a guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_builds_as_is_and_dev_redeploys_on_change() {
    let platform = Platform::start().await;
    let work = tempfile::tempdir().unwrap();
    // Kept between runs: the template's dependencies build once.
    let guest_target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faas-new-guest");
    let command = |args: &[&str]| {
        let mut command = faas(&platform.base, Some(TEST_ADMIN_TOKEN), work.path(), args);
        command.current_dir(work.path()).env("CARGO_TARGET_DIR", &guest_target);
        command
    };

    let created = command(&["new", "greeter"]).output().await.unwrap();
    assert_exit(&created, 0);
    let project = work.path().join("greeter");
    let built =
        tokio::time::timeout(Duration::from_secs(600), command(&["build", "greeter", "-o", "json"]).output())
            .await
            .expect("the build ends")
            .unwrap();
    assert_exit(&built, 0);
    let component = PathBuf::from(json(&built)["built"].as_str().unwrap());
    assert!(component.is_file() && component.starts_with(&guest_target), "{}", component.display());

    let mut dev = command(&["dev", "functions/greeter", "greeter", "--data", "you", "--create-bucket"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(300), lines.next_line()).await.expect("dev answers").unwrap()
    };
    assert_eq!(next_line().await.as_deref(), Some("Hello from greeter: you"));
    let source = project.join("src/lib.rs");
    let edited = std::fs::read_to_string(&source).unwrap().replace("Hello from", "Bye from");
    std::fs::write(&source, edited).unwrap();
    assert_eq!(next_line().await.as_deref(), Some("Bye from greeter: you"));
    dev.kill().await.unwrap();
}

/// Whether `program` is on PATH or in the toolchains cache (under
/// `relative`) that `scripts/build-functions.sh` installs into, where
/// `faas build` looks for it.
fn toolchain_present(program: &str, relative: &[&str]) -> bool {
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join(program).is_file());
    let cache = std::env::var_os("FAAS_TOOLCHAINS_DIR").map(PathBuf::from).or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("wasm-faas").join("toolchains"))
    });
    let in_cache = cache.is_some_and(|cache| {
        relative.iter().fold(cache, |path, part| path.join(part)).join(program).is_file()
    });
    on_path || in_cache
}

/// new → build → deploy → invoke (with logs) for a language whose
/// toolchain is installed; a notice, not a failure, where it is not.
async fn new_build_deploy_invoke(lang: &str, program: &str, relative: &[&str]) {
    if !toolchain_present(program, relative) {
        eprintln!("skipped: {program} is not installed (scripts/build-functions.sh installs it)");
        return;
    }
    // Its upload compiles an interpreter: tens of seconds on a busy machine.
    let platform = Platform::start_with_dispatcher(|config| config.validate_timeout_secs = 300).await;
    let work = tempfile::tempdir().unwrap();
    let name = format!("hi-{lang}");
    let command = |args: &[&str]| {
        let mut command = faas(&platform.base, Some(TEST_ADMIN_TOKEN), work.path(), args);
        command.current_dir(work.path());
        command
    };

    let created = command(&["new", &name, "--lang", lang]).output().await.unwrap();
    assert_exit(&created, 0);
    let built =
        tokio::time::timeout(Duration::from_secs(300), command(&["build", &name, "-o", "json"]).output())
            .await
            .expect("the build ends")
            .unwrap();
    assert_exit(&built, 0);
    assert!(stderr(&built).contains(program), "the toolchain's progress: {}", stderr(&built));
    let component = PathBuf::from(json(&built)["built"].as_str().unwrap());
    assert_eq!(
        component,
        work.path().join(&name).join("target").join(format!("{name}.wasm")).canonicalize().unwrap()
    );

    let target = format!("functions/{name}");
    let deployed =
        command(&["deploy", &target, component.to_str().unwrap(), "--create-bucket"]).output().await.unwrap();
    assert_exit(&deployed, 0);
    let invoked = command(&["invoke", &target, "--data", "you", "--logs"]).output().await.unwrap();
    assert_exit(&invoked, 0);
    assert_eq!(stdout(&invoked), format!("Hello from {name}: you\n"));
    assert!(stderr(&invoked).contains(&format!("{name} got 3 characters")), "{}", stderr(&invoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_projects_are_created_built_deployed_and_invoked() {
    new_build_deploy_invoke("python", "componentize-py", &["python", "bin"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn javascript_projects_are_created_built_deployed_and_invoked() {
    new_build_deploy_invoke("js", "componentize-js", &["node", "node_modules", ".bin"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_prints_each_call_and_follows_new_ones() {
    let platform = Platform::start().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();
    let chatty = stack::guests::guest_path("chatty");
    let deployed =
        run(&platform, config, &["deploy", "functions/chatty", chatty.to_str().unwrap(), "--create-bucket"])
            .await;
    assert_exit(&deployed, 0);
    assert_exit(&run(&platform, config, &["invoke", "functions/chatty", "--data", "first"]).await, 0);

    // The executor publishes the log after replying: wait until it is kept.
    let mut printed = String::new();
    for _ in 0..100 {
        let logs = run(&platform, config, &["logs", "functions/chatty"]).await;
        assert_exit(&logs, 0);
        printed = stdout(&logs);
        if !printed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 3, "{printed}");
    assert!(lines[0].contains("  ok  ") && lines[0].ends_with(" ms"), "{printed}");
    assert_eq!(&lines[1..], ["  [stdout] stdout: first", "  [stderr] stderr: first"]);
    let as_json = run(&platform, config, &["logs", "functions/chatty", "-o", "json"]).await;
    assert_exit(&as_json, 0);
    let log = json(&as_json);
    assert_eq!((log["outcome"].as_str(), log["stdout"].as_str()), (Some("ok"), Some("stdout: first\n")));

    let mut follow = faas(
        &platform.base,
        Some(TEST_ADMIN_TOKEN),
        config,
        &["logs", "functions/chatty", "--follow", "--limit", "0", "-o", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    // Until the follower's consumer exists, a call may come before it:
    // call until one shows, then check it is one of these calls.
    let mut ids = Vec::new();
    let shown = loop {
        let invoked =
            run(&platform, config, &["invoke", "functions/chatty", "--data", "later", "-o", "json"]).await;
        assert_exit(&invoked, 0);
        ids.push(json(&invoked)["request_id"].as_str().unwrap().to_owned());
        if let Ok(line) = tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
            break line.unwrap().expect("a log line");
        }
        assert!(ids.len() < 10, "--follow printed none of {ids:?}");
    };
    let log: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(log["stdout"], "stdout: later\n");
    assert!(ids.iter().any(|id| log["request_id"] == id.as_str()), "{log} not in {ids:?}");
    follow.kill().await.unwrap();
}

/// `faas run`: the request the function gets (method, path, query, header,
/// body) and the answer printed, with `-i` its status and headers; usage
/// errors exit 2. A stand-in answers the HTTP-function subject as an
/// executor would (the platform's executors stopped, so it alone does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_calls_an_http_function_and_prints_its_answer() {
    use futures::StreamExt;
    use protocol::headers;

    let mut platform = Platform::start().await;
    platform.stop_executors().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();
    let nats = platform.nats_server().connect().await;
    let mut requests =
        nats.subscribe(protocol::Subjects::default().http(&"web/echo".parse().unwrap())).await.unwrap();
    nats.flush().await.unwrap();
    let responder = nats.clone();
    let seen = tokio::spawn(async move {
        let request = requests.next().await.unwrap();
        let mut reply = async_nats::HeaderMap::new();
        reply.insert(headers::STATUS, headers::STATUS_OK);
        reply.insert(headers::HTTP_STATUS, "202");
        reply.insert("x-echo", "1");
        responder
            .publish_with_headers(request.reply.clone().unwrap(), reply, "answered".into())
            .await
            .unwrap();
        responder.flush().await.unwrap();
        request
    });

    let output = run(
        &platform,
        config,
        &["run", "web/echo/items?id=42", "-X", "put", "-H", "x-k: v", "--data", "hi", "-i"],
    )
    .await;
    assert_exit(&output, 0);
    let printed = stdout(&output);
    assert!(printed.starts_with("HTTP 202\r\n"), "{printed}");
    assert!(printed.contains("x-echo: 1\r\n") && printed.ends_with("\r\n\r\nanswered"), "{printed}");
    let request = seen.await.unwrap();
    let header = |name: &str| request.headers.as_ref().unwrap().get(name).map(|v| v.as_str().to_owned());
    assert_eq!(header(headers::HTTP_METHOD).as_deref(), Some("PUT"));
    assert_eq!(header(headers::HTTP_PATH).as_deref(), Some("/items"));
    assert_eq!(header(headers::HTTP_QUERY).as_deref(), Some("id=42"));
    assert_eq!(header("x-k").as_deref(), Some("v"));
    assert_eq!(request.payload.as_ref(), b"hi");

    for args in
        [&["run", "web"][..], &["run", "web/echo", "-H", "no colon"], &["run", "web/echo", "-X", "B@D"]]
    {
        assert_exit(&run(&platform, config, args).await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_set_keeps_what_it_does_not_name_and_unset_removes() {
    let platform = Platform::start().await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();
    let probe = stack::guests::guest_path("config_probe");
    let deployed =
        run(&platform, config, &["deploy", "cfg/probe", probe.to_str().unwrap(), "--create-bucket"]).await;
    assert_exit(&deployed, 0);

    let set = run(
        &platform,
        config,
        &[
            "config",
            "set",
            "cfg/probe",
            "--env",
            "GREETING=hi",
            "--secret",
            "TOKEN=hunter2",
            "--timeout-ms",
            "900",
        ],
    )
    .await;
    assert_exit(&set, 0);
    assert!(stdout(&set).contains("secret TOKEN") && !stdout(&set).contains("hunter2"), "{}", stdout(&set));
    // Another set keeps the secret and the limit it does not name.
    let more = run(&platform, config, &["config", "set", "cfg/probe", "--env", "MORE=1", "-o", "json"]).await;
    assert_exit(&more, 0);
    let view = json(&more);
    assert_eq!(view["env"], serde_json::json!({"GREETING": "hi", "MORE": "1"}));
    assert_eq!(
        (view["secrets"].clone(), view["timeout_ms"].clone()),
        (serde_json::json!(["TOKEN"]), 900.into())
    );
    let ran = run(&platform, config, &["invoke", "cfg/probe", "-d", "plain"]).await;
    assert_exit(&ran, 0);
    let seen: Value = serde_json::from_str(stdout(&ran).trim()).unwrap();
    assert_eq!(seen["env"], serde_json::json!({"GREETING": "hi", "MORE": "1", "TOKEN": "hunter2"}));

    let unset = run(&platform, config, &["config", "unset", "cfg/probe", "TOKEN", "-o", "json"]).await;
    assert_exit(&unset, 0);
    assert_eq!(json(&unset)["secrets"], serde_json::json!([]));
    assert_exit(&run(&platform, config, &["config", "unset", "cfg/probe", "NOPE"]).await, 2);
    let reset = run(&platform, config, &["config", "unset", "cfg/probe", "--all", "-o", "json"]).await;
    assert_exit(&reset, 0);
    assert_eq!(json(&reset), serde_json::json!({"function": "cfg/probe", "env": {}, "secrets": []}));
}

//! The command line, as clap reads it: every command, flag and variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use protocol::auth::Scope;
use protocol::{BucketName, FunctionRef, JobStatus, PipelineName, Target, TriggerMode, TriggerName};

/// faas: deploy, run and manage functions on a wasm-faas platform.
#[derive(Debug, Parser)]
#[command(name = "faas", version, max_term_width = 100)]
pub struct Cli {
    /// The api's address [default: the profile's, else http://127.0.0.1:3000].
    #[arg(long, env = "FAAS_URL", global = true)]
    pub url: Option<String>,
    /// The bearer token [default: the profile's].
    #[arg(long, env = "FAAS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The profile of the config file to use [default: the one `faas login` stored last].
    #[arg(long, env = "FAAS_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Human tables, or JSON for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Table,
    /// One JSON document on stdout (errors: one on stderr).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store an api address and token as a profile (and check them).
    Login {
        /// The api's address.
        url: String,
    },
    /// Upload a component (a .wasm file, or a project directory, built first).
    Deploy {
        /// Where: `<bucket>/<function>`.
        function: FunctionRef,
        /// A component file, or a project directory to build [default: .].
        path: Option<PathBuf>,
        /// Create the bucket if it does not exist.
        #[arg(long)]
        create_bucket: bool,
    },
    /// Run a function (or `pipeline/<name>`) and print its output.
    Invoke {
        /// `<bucket>/<function>` or `pipeline/<name>`.
        target: Target,
        #[command(flatten)]
        input: Input,
        /// Print the function's stdout and stderr too (on stderr).
        #[arg(long)]
        logs: bool,
        /// Run it as a job: print the job id at once.
        #[arg(long = "async")]
        run_async: bool,
        /// With --async: wait for the job to end and print its result.
        #[arg(long, requires = "run_async")]
        wait: bool,
    },
    /// Call an HTTP function: print the body it answers (`-i`: its status
    /// and headers first).
    Run {
        /// `<bucket>/<function>[/<path>][?<query>]`: the path and query the
        /// function sees.
        target: String,
        /// The HTTP method [default: GET, or POST with --data].
        #[arg(long, short = 'X')]
        method: Option<String>,
        /// A request header, `'name: value'` (repeatable).
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// The body: text, `@<file>`, or `-` (stdin).
        #[arg(long, short = 'd')]
        data: Option<String>,
        /// Print the status line and headers before the body.
        #[arg(long, short = 'i')]
        include: bool,
    },
    /// List buckets, or the functions of one.
    Ls {
        /// The bucket to list.
        bucket: Option<BucketName>,
    },
    /// Delete a function (`<bucket>/<function>`) or a bucket.
    Rm {
        /// `<bucket>/<function>`, or `<bucket>`.
        what: String,
        /// Delete a bucket with its functions.
        #[arg(long)]
        force: bool,
    },
    /// Download a function's component.
    Get {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// Where to write it (`-`: stdout; default: `./<function>.wasm`).
        dest: Option<PathBuf>,
    },
    /// List a function's kept versions, newest first (`*` marks the current one).
    Versions {
        /// `<bucket>/<function>`.
        function: FunctionRef,
    },
    /// Shadow a sample of a function's live calls with a candidate version
    /// (`faas shadow b/f <version> --sample 0.1`), show its report
    /// (`--report`) or stop it (`--stop`); with neither a version nor a
    /// flag, show the shadowing running now.
    Shadow {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// The candidate: a digest or a unique prefix of 8+ hex characters.
        version: Option<String>,
        /// The share of live calls also run on the candidate, in (0, 1].
        #[arg(long, default_value_t = 0.1)]
        sample: f64,
        /// Shadow runs per second at most, per executor [default: 50].
        #[arg(long)]
        max_per_sec: Option<u32>,
        /// Print the report instead.
        #[arg(long, conflicts_with_all = ["version", "stop"])]
        report: bool,
        /// Stop shadowing.
        #[arg(long, conflicts_with = "version")]
        stop: bool,
    },
    /// Create or move an alias of a function (`current` is what its name
    /// runs); with `--weight`, split its calls between versions.
    Alias {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// The alias (`current`, or a name of your own).
        alias: String,
        /// The target: a digest, a unique prefix, or another alias.
        version: String,
        /// `<version>=<share>`, repeated; shares sum to 1 and include the target.
        #[arg(long)]
        weight: Vec<String>,
    },
    /// Point a function's `current` back at its previous version.
    Rollback {
        /// `<bucket>/<function>`.
        function: FunctionRef,
    },
    /// Asynchronous jobs.
    #[command(subcommand)]
    Jobs(Jobs),
    /// Print a function's call logs: time, request id, outcome, duration,
    /// then what the call wrote to stdout and stderr.
    Logs {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// Keep printing new calls' logs as they end (Ctrl-C stops).
        #[arg(long, short = 'f')]
        follow: bool,
        /// How many of the newest calls to print first [default: 50, or 10
        /// with --follow; at most 1000].
        #[arg(long, short = 'n')]
        limit: Option<usize>,
    },
    /// Event triggers.
    #[command(subcommand)]
    Triggers(Triggers),
    /// Pipelines.
    #[command(subcommand)]
    Pipelines(Pipelines),
    /// A function's configuration: environment, secrets, limits.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Api tokens (admin).
    #[command(subcommand)]
    Tokens(Tokens),
    /// Create a function project that builds as-is.
    New {
        /// The function's name (and its directory's).
        name: String,
        /// Its language.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// The world it exports.
        #[arg(long, value_enum, default_value_t = World::Exec)]
        world: World,
    },
    /// Build a function project into a component.
    Build {
        /// The project directory [default: .].
        dir: Option<PathBuf>,
    },
    /// Watch a project: rebuild, redeploy and re-run it on every change.
    Dev {
        /// Where to deploy it: `<bucket>/<function>`.
        function: FunctionRef,
        /// The project directory [default: .].
        dir: Option<PathBuf>,
        #[command(flatten)]
        input: Input,
        /// Print the function's stdout and stderr too.
        #[arg(long)]
        logs: bool,
        /// Create the bucket if it does not exist.
        #[arg(long)]
        create_bucket: bool,
    },
}

/// A call's input: `--data`, `--data-file`, or stdin when it is not a terminal.
#[derive(Debug, Args)]
pub struct Input {
    /// The input.
    #[arg(long, short = 'd', conflicts_with = "data_file")]
    pub data: Option<String>,
    /// A file holding the input (`-`: stdin).
    #[arg(long)]
    pub data_file: Option<PathBuf>,
}

/// `faas jobs ...`.
#[derive(Debug, Subcommand)]
pub enum Jobs {
    /// Jobs, newest first.
    Ls {
        /// Only those in this state.
        #[arg(long, value_parser = parse_status)]
        status: Option<JobStatus>,
        /// At most this many (the api caps it at 1000).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// A job's record.
    Get {
        /// The job id.
        id: String,
    },
    /// Queue a failed job again.
    Redrive {
        /// The job id.
        id: String,
    },
    /// Run a finished job's input (or, with --call, a failed sync call's
    /// kept input) again as a new job, on a version (default: current).
    Replay {
        /// The job id (or the call id from `x-faas-call-id`, with --call).
        id: String,
        /// The version to run: a digest or a unique prefix of 8+ hex characters.
        #[arg(long)]
        version: Option<String>,
        /// Let the replay act: callbacks, trigger output, capability writes.
        #[arg(long)]
        side_effects: bool,
        /// The id is a failed sync call's.
        #[arg(long)]
        call: bool,
        /// Wait for the replay to end and print its result.
        #[arg(long)]
        wait: bool,
    },
}

/// `faas triggers ...`.
#[derive(Debug, Subcommand)]
pub enum Triggers {
    /// Every trigger the token may see.
    Ls,
    /// One trigger.
    Get {
        /// Its name.
        name: TriggerName,
    },
    /// Create or replace a trigger.
    Put {
        /// Its name.
        name: TriggerName,
        /// The NATS subject it listens on.
        #[arg(long, required_unless_present = "schedule", conflicts_with = "schedule")]
        subject: Option<String>,
        /// Or a cron expression (5 fields, or 6 with seconds first): it runs once per tick.
        #[arg(long)]
        schedule: Option<String>,
        /// The IANA time zone of the schedule (default UTC).
        #[arg(long, requires = "schedule")]
        time_zone: Option<String>,
        /// What each scheduled run gets as input.
        #[arg(long, requires = "schedule")]
        input: Option<String>,
        /// The function it runs: `<bucket>/<function>`.
        #[arg(long)]
        function: FunctionRef,
        /// Where it publishes outputs.
        #[arg(long)]
        output_subject: Option<String>,
        /// Run each event at once, or as a job.
        #[arg(long, value_parser = parse_mode, default_value = "sync")]
        mode: TriggerMode,
    },
    /// Delete a trigger.
    Rm {
        /// Its name.
        name: TriggerName,
    },
}

/// `faas pipelines ...`.
#[derive(Debug, Subcommand)]
pub enum Pipelines {
    /// Every pipeline the token may see.
    Ls,
    /// One pipeline.
    Get {
        /// Its name.
        name: PipelineName,
    },
    /// Create or replace a pipeline.
    Put {
        /// Its name.
        name: PipelineName,
        /// Its steps, in order: `<bucket>/<function>` each.
        #[arg(required = true)]
        steps: Vec<FunctionRef>,
    },
    /// Delete a pipeline.
    Rm {
        /// Its name.
        name: PipelineName,
    },
    /// Run a pipeline and print its output.
    Run {
        /// Its name.
        name: PipelineName,
        #[command(flatten)]
        input: Input,
    },
}

/// `faas config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show a function's configuration (secrets by name only).
    Get {
        /// `<bucket>/<function>`.
        function: FunctionRef,
    },
    /// Change a function's configuration: what is named is set, the rest
    /// (secrets included) kept. The next call on every executor uses it.
    Set {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// An environment variable, `NAME=value` (repeat for more).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// A secret, `NAME=value` (repeat for more); stored encrypted, never shown again.
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secrets: Vec<String>,
        /// Wall-clock limit per call, in ms (only lowers the executors').
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Memory cap per call, in MiB (only lowers the executors').
        #[arg(long)]
        memory_mib: Option<u64>,
        /// Calls at once across all executors (more get 429).
        #[arg(long)]
        max_concurrency: Option<u32>,
        /// A host its outgoing HTTP may reach (repeat for more; replaces the list).
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_hosts: Vec<String>,
    },
    /// Remove variables or secrets by name; with `--all`, every setting
    /// (back to the defaults).
    Unset {
        /// `<bucket>/<function>`.
        function: FunctionRef,
        /// Names of variables or secrets to remove.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        /// Remove the whole configuration.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
}

/// `faas tokens ...`.
#[derive(Debug, Subcommand)]
pub enum Tokens {
    /// Every token (never their secrets).
    Ls,
    /// Create a token; its secret is printed this once.
    Create {
        /// A name for people.
        name: String,
        /// A scope: `admin`, or `deploy|invoke|read:<bucket>|*` (repeat for more).
        #[arg(long = "scope", required = true)]
        scopes: Vec<Scope>,
        /// Seconds until it expires [default: never].
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Revoke a token.
    Revoke {
        /// Its id.
        id: String,
    },
}

/// A function's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

/// The world a function exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum World {
    /// `exec: func(string) -> string` (wit/faas.wit).
    Exec,
    /// An HTTP handler: not supported yet.
    Http,
}

fn parse_status(text: &str) -> Result<JobStatus, String> {
    JobStatus::parse(text).ok_or_else(|| format!("{text:?} is not queued, running, succeeded or failed"))
}

fn parse_mode(text: &str) -> Result<TriggerMode, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{text:?} is not sync or async"))
}

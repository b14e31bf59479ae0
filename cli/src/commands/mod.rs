//! The commands that talk to the platform, one module per area.

pub mod aliases;
pub mod function_config;
pub mod functions;
pub mod http;
pub mod jobs;
pub mod login;
pub mod logs;
pub mod resources;

use client::Client;

use crate::args::Output;

/// What every platform command needs: a client and how to print.
pub struct Context {
    /// The client of the api, with the token.
    pub client: Client,
    /// How answers are printed.
    pub output: Output,
}

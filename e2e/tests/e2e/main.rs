//! The end-to-end tests, one module per area, in one test binary: every
//! area links the whole platform, so one binary links it once. Tests that
//! own process-wide state stay binaries of their own: `battery` (a panic
//! hook and the process's memory) and `traces` (the global subscriber).

mod aliases;
mod audit;
mod auth;
mod blobstore;
mod buckets;
mod callbacks;
mod cluster;
mod crash;
mod exec;
mod files;
mod flows;
mod front_door;
mod function_config;
mod http_functions;
mod http_languages;
mod http_nats;
mod jobs;
mod keyvalue;
mod languages;
mod logs;
mod messaging;
mod metrics;
mod nats_permissions;
mod openapi;
mod outages;
mod pipelines;
mod public_buckets;
mod replay;
mod schedules;
mod services;
mod shadow;
mod stores;
mod versions;

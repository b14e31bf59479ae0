//! Scope checks on what a job, a trigger or a pipeline runs: every
//! function it names must be in a bucket the token holds the scope on.

use protocol::admin::GetPipeline;
use protocol::auth::Access;
use protocol::{ErrorCode, FunctionRef, Target};

use crate::auth::Principal;
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Who may see a trigger's or a pipeline's definition: `read` or
/// `deploy` on every function it names.
pub const SEE_DEFINITIONS: &[Access] = &[Access::Read, Access::Deploy];

/// Whether the caller holds one of `accesses` on the bucket of every
/// function in `functions`.
pub fn may_all<'a>(
    principal: &Principal,
    accesses: &[Access],
    functions: impl IntoIterator<Item = &'a FunctionRef>,
) -> bool {
    functions
        .into_iter()
        .all(|function| accesses.iter().any(|&access| principal.may(access, &function.bucket)))
}

/// 403 unless [`may_all`]; the first of `accesses` is the scope named.
pub fn require_all<'a>(
    principal: &Principal,
    accesses: &[Access],
    functions: impl IntoIterator<Item = &'a FunctionRef>,
) -> Result<(), ApiError> {
    for function in functions {
        if !may_all(principal, accesses, [function]) {
            return principal.require(accesses[0], &function.bucket);
        }
    }
    Ok(())
}

/// The functions `target` runs: the function, or the pipeline's steps.
pub async fn functions(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    target: &Target,
) -> Result<Vec<FunctionRef>, ApiError> {
    match target {
        Target::Function(function) => Ok(vec![function.clone()]),
        Target::Pipeline(name) => {
            Ok(admin(state, id, principal, GetPipeline { name: name.clone() }).await?.spec.steps)
        }
    }
}

/// 403 unless the caller holds one of `accesses` on the bucket of every
/// function `target` runs; the first of `accesses` is the one named.
pub async fn require(
    state: &AppState,
    id: &RequestId,
    principal: &Principal,
    target: &Target,
    accesses: &[Access],
) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    let functions = match functions(state, id, principal, target).await {
        Ok(functions) => functions,
        // A pipeline gone since: only an admin may still see its jobs.
        Err(err) if err.body().code == ErrorCode::PipelineNotFound => {
            return Err(crate::auth::forbidden(&protocol::auth::Scope::Admin));
        }
        Err(err) => return Err(err),
    };
    require_all(principal, accesses, &functions)
}

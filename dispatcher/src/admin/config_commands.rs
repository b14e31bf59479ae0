//! The function configuration commands: store, show or reset one
//! function's configuration in `faas-function-config`, then wait until
//! every executor applied the change.
//!
//! Secrets arrive sealed by the api and stay sealed here: the dispatcher
//! never holds the platform key. A secret sent as `null` keeps the stored
//! value, which only this side knows.

use protocol::ErrorBody;
use protocol::ErrorCode;
use protocol::FunctionRef;
use protocol::admin::{DeleteFunctionConfig, GetFunctionConfig, PutFunctionConfig};
use protocol::function_config::FunctionConfigView;
use tracing::error;

use super::handler::{AdminHandler, WATCHER_WAIT};

impl AdminHandler {
    pub(crate) async fn put_function_config(
        &self,
        PutFunctionConfig { function, config }: PutFunctionConfig,
    ) -> Result<FunctionConfigView, ErrorBody> {
        self.require_function(&function).await?;
        let stored = self.function_config.get(&function).await?;
        let config = config
            .resolve(stored.as_ref(), protocol::jobs::now_ms())
            .map_err(|err| ErrorBody::new(ErrorCode::BadRequest, err.to_string()))?;
        let revision = self.function_config.put(&function, &config).await?;
        self.wait_for_config_followers(revision).await;
        Ok(config.view(&function))
    }

    pub(crate) async fn get_function_config(
        &self,
        GetFunctionConfig { function }: GetFunctionConfig,
    ) -> Result<FunctionConfigView, ErrorBody> {
        match self.function_config.get(&function).await? {
            Some(config) => Ok(config.view(&function)),
            None => {
                self.require_function(&function).await?;
                Ok(FunctionConfigView::defaults(&function))
            }
        }
    }

    pub(crate) async fn delete_function_config(
        &self,
        DeleteFunctionConfig { function }: DeleteFunctionConfig,
    ) -> Result<FunctionConfigView, ErrorBody> {
        self.require_function(&function).await?;
        self.forget_function_config(&function).await?;
        Ok(FunctionConfigView::defaults(&function))
    }

    /// Removes `function`'s configuration, if any, and waits for the
    /// executors: with the function's deletion too, so a function stored
    /// again under the name starts from the defaults.
    pub(crate) async fn forget_function_config(&self, function: &FunctionRef) -> Result<(), ErrorBody> {
        if let Some(revision) = self.function_config.remove(function).await? {
            self.wait_for_config_followers(revision).await;
        }
        Ok(())
    }

    /// 404 `function_not_found` unless `function` is deployed (in the
    /// registry, or, for one stored before the registry, in S3).
    async fn require_function(&self, function: &FunctionRef) -> Result<(), ErrorBody> {
        if self.registry.get(function).await?.is_some() {
            return Ok(());
        }
        let listed = match self.store.list_functions(&function.bucket).await {
            Ok(functions) => functions.iter().any(|f| f.name == function.function.as_str()),
            Err(err) if err.code() == ErrorCode::BucketNotFound => false,
            Err(err) => return Err(err.into()),
        };
        if listed {
            Ok(())
        } else {
            Err(ErrorBody::new(ErrorCode::FunctionNotFound, format!("function {function} does not exist")))
        }
    }

    /// Answers only once every running executor applied a configuration
    /// write: the next call anywhere runs with it. A stuck executor must
    /// not block every change, so after [`WATCHER_WAIT`] the answer goes
    /// out anyway, loudly.
    pub(crate) async fn wait_for_config_followers(&self, revision: u64) {
        if let Err(err) = self.function_config.wait_for_followers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some executors may still run with the previous function configuration");
        }
    }
}

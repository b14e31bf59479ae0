//! What a runnable component is.
//!
//! Storing garbage would only move the error to every later call, so the
//! dispatcher checks uploads before they reach S3: the bytes must be a
//! WebAssembly component (not a core module), compile with the shared engine
//! settings ([`crate::config`]), and export `exec: func(string) -> string`.
//! Executors compile with the same [`compile_checked`] on a cache miss, so
//! both roles agree on what runs and say the same thing when it does not.
//! The dispatcher keeps the compiled form: it becomes the shared
//! precompiled artifact.

use protocol::{ErrorBody, ErrorCode};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type};

/// Why an upload was refused; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidComponent {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    /// A core module: built for wasm32-wasip1 or without the component step.
    #[error(
        "this is a core WebAssembly module, not a component: build the function for \
         wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// The component does not compile.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// No `exec` export.
    #[error("the component does not export `exec: func(input: string) -> string` (exports: {0})")]
    MissingExport(String),
    /// `exec` has another type.
    #[error("the export `exec` must be `func(input: string) -> string`, found {0}")]
    WrongSignature(String),
}

impl InvalidComponent {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidComponent
    }
}

impl From<InvalidComponent> for ErrorBody {
    fn from(err: InvalidComponent) -> Self {
        ErrorBody::new(err.code(), err.to_string())
    }
}

/// An upload that passed: its digest and its compiled form.
pub struct ValidComponent {
    /// sha256 of the bytes, hex.
    pub digest: String,
    /// Compiled with the shared settings.
    pub component: Component,
}

/// Compiles uploads with executor-compatible engine settings.
#[derive(Clone)]
pub struct ComponentValidator {
    engine: Engine,
}

impl Default for ComponentValidator {
    fn default() -> Self {
        Self::new()
    }
}

impl ComponentValidator {
    /// A validator with its own engine, which knows the limits on a
    /// component's shape (a pool for one instance, never used to run
    /// anything).
    pub fn new() -> Self {
        let mut pooled = crate::config();
        pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(crate::pooling(1)));
        let engine = Engine::new(&pooled).unwrap_or_else(|err| {
            // The pool reserves address space up front; where that is
            // refused, executors allocate per call too and check no shape.
            tracing::warn!(error = %format!("{err:#}"), "pooling allocator unavailable; not checking component shapes");
            Engine::new(&crate::config()).expect("the shared engine configuration is valid")
        });
        Self { engine }
    }

    /// The engine uploads are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Checks `bytes`, returning their digest and compiled form. CPU-heavy.
    pub fn validate(&self, bytes: &[u8]) -> Result<ValidComponent, InvalidComponent> {
        let component = compile_checked(&self.engine, bytes)?;
        Ok(ValidComponent { digest: crate::digest(bytes), component })
    }
}

/// Compiles `bytes` with `engine` (configured from [`crate::config`]) and
/// checks that the result is a component exporting
/// `exec: func(string) -> string`. CPU-heavy: call it off the async workers.
pub fn compile_checked(engine: &Engine, bytes: &[u8]) -> Result<Component, InvalidComponent> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(InvalidComponent::CoreModule),
        Some([0, b'a', b's', b'm', ..]) => {}
        _ => return Err(InvalidComponent::NotWasm),
    }
    let component = Component::new(engine, bytes).map_err(|e| InvalidComponent::Compile(format!("{e:#}")))?;
    let ty = component.component_type();
    let exec = ty.get_export(engine, "exec").ok_or_else(|| {
        let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        InvalidComponent::MissingExport(if names.is_empty() { "none".into() } else { names.join(", ") })
    })?;
    let ComponentItem::ComponentFunc(func) = exec.ty else {
        return Err(InvalidComponent::WrongSignature(format!("{:?}", exec.ty)));
    };
    let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<Type> = func.results().collect();
    if !matches!(params.as_slice(), [Type::String]) || !matches!(results.as_slice(), [Type::String]) {
        return Err(InvalidComponent::WrongSignature(format!("func{params:?} -> {results:?}")));
    }
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_component() {
        let validator = ComponentValidator::new();
        let refusal = |bytes: &[u8]| validator.validate(bytes).err();
        assert_eq!(refusal(b"hello world, not wasm"), Some(InvalidComponent::NotWasm));
        assert_eq!(refusal(b""), Some(InvalidComponent::NotWasm));
        let core_module = [0, b'a', b's', b'm', 1, 0, 0, 0];
        assert_eq!(refusal(&core_module), Some(InvalidComponent::CoreModule));
        // Right header, garbage body.
        let broken = [0, b'a', b's', b'm', 0x0d, 0, 1, 0, 0xff, 0xff];
        assert!(matches!(validator.validate(&broken), Err(InvalidComponent::Compile(_))));
    }
}

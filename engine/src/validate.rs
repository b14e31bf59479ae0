//! What a runnable component is.
//!
//! Storing garbage would only move the error to every later call, so the
//! dispatcher checks uploads before they reach S3: the bytes must be a
//! WebAssembly component (not a core module), compile with the shared engine
//! settings ([`crate::config`]), and export either `exec: func(string) ->
//! string` (world `faas-exec`) or `wasi:http/incoming-handler@0.2.x` (world
//! `wasi:http/proxy`); which one is the function's [`World`], recorded in the
//! registry so the executor knows how to call it.
//! Executors compile with the same [`compile_checked`] on a cache miss, so
//! both roles agree on what runs and say the same thing when it does not.
//! The dispatcher keeps the compiled form: it becomes the shared
//! precompiled artifact.

use protocol::{ErrorBody, ErrorCode, World};
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
    /// Neither an `exec` nor a `wasi:http/incoming-handler` export.
    #[error(
        "the component exports neither `exec: func(input: string) -> string` (world faas-exec) \
         nor `wasi:http/incoming-handler@0.2.x` with `handle` (world wasi:http/proxy) (exports: {0})"
    )]
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

/// An upload that passed: its digest, world and compiled form.
pub struct ValidComponent {
    /// sha256 of the bytes, hex.
    pub digest: String,
    /// Which of the two shapes it has.
    pub world: World,
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
        let world = world_of(&self.engine, &component)?;
        Ok(ValidComponent { digest: crate::digest(bytes), world, component })
    }
}

/// Compiles `bytes` with `engine` (configured from [`crate::config`]) and
/// checks that the result is a component of one of the two worlds
/// ([`world_of`]). CPU-heavy: call it off the async workers.
pub fn compile_checked(engine: &Engine, bytes: &[u8]) -> Result<Component, InvalidComponent> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(InvalidComponent::CoreModule),
        Some([0, b'a', b's', b'm', ..]) => {}
        _ => return Err(InvalidComponent::NotWasm),
    }
    let component = Component::new(engine, bytes).map_err(|e| InvalidComponent::Compile(format!("{e:#}")))?;
    world_of(engine, &component)?;
    Ok(component)
}

/// The name prefix of the `wasi:http/incoming-handler` export of any 0.2
/// release, which every `wasi:http/proxy` host accepts.
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

/// Which world a compiled component exports: `exec: func(string) -> string`
/// is [`World::Exec`], an instance `wasi:http/incoming-handler@0.2.x` with a
/// `handle` function is [`World::Http`]. Cheap (reads the component's type).
pub fn world_of(engine: &Engine, component: &Component) -> Result<World, InvalidComponent> {
    let ty = component.component_type();
    if let Some(exec) = ty.get_export(engine, "exec") {
        let ComponentItem::ComponentFunc(func) = exec.ty else {
            return Err(InvalidComponent::WrongSignature(format!("{:?}", exec.ty)));
        };
        let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
        let results: Vec<Type> = func.results().collect();
        if !matches!(params.as_slice(), [Type::String]) || !matches!(results.as_slice(), [Type::String]) {
            return Err(InvalidComponent::WrongSignature(format!("func{params:?} -> {results:?}")));
        }
        return Ok(World::Exec);
    }
    // `handle: func(request: incoming-request, response-out: response-outparam)`;
    // the resources' identity is checked when an executor links it.
    let is_handle = |item: Option<wasmtime::component::types::ComponentExtern>| {
        matches!(item.map(|item| item.ty), Some(ComponentItem::ComponentFunc(func))
            if func.params().len() == 2 && func.results().len() == 0)
    };
    let handler = ty.exports(engine).any(|(name, item)| {
        name.starts_with(INCOMING_HANDLER)
            && matches!(&item.ty, ComponentItem::ComponentInstance(instance)
                if is_handle(instance.get_export(engine, "handle")))
    });
    if handler {
        return Ok(World::Http);
    }
    let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    Err(InvalidComponent::MissingExport(if names.is_empty() { "none".into() } else { names.join(", ") }))
}

/// The host capabilities (`wasi:keyvalue`, `wasi:blobstore`,
/// `wasmcloud:messaging`) a component imports: what its configuration must
/// grant before it may run.
pub fn capabilities_of(
    engine: &Engine,
    component: &Component,
) -> std::collections::BTreeSet<protocol::Capability> {
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| protocol::Capability::of_import(name))
        .collect()
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

    /// A component exporting `wasi:http/incoming-handler@0.2.<patch>` whose
    /// `handle` takes `params` i32s.
    fn handler(patch: u32, params: usize) -> Vec<u8> {
        let core = " i32".repeat(params);
        let lifted = (0..params).map(|i| format!(" (param \"p{i}\" u32)")).collect::<String>();
        wat::parse_str(format!(
            r#"(component
                (core module $m (func (export "h") (param{core})))
                (core instance $i (instantiate $m))
                (func $h{lifted} (canon lift (core func $i "h")))
                (instance $handler (export "handle" (func $h)))
                (export "wasi:http/incoming-handler@0.2.{patch}" (instance $handler)))"#
        ))
        .unwrap()
    }

    #[test]
    fn an_incoming_handler_export_is_the_http_world() {
        let validator = ComponentValidator::new();
        for patch in [0, 6, 12] {
            let valid = validator.validate(&handler(patch, 2)).unwrap_or_else(|e| panic!("0.2.{patch}: {e}"));
            assert_eq!(valid.world, World::Http);
        }
        let refused = validator.validate(&handler(0, 1)).err().expect("handle must take two arguments");
        let text = refused.to_string();
        assert!(text.contains("exports neither") && text.contains("wasi:http/incoming-handler"), "{text}");
    }
}

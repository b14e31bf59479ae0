//! Distributed traces: W3C trace context on every hop, exported with
//! OpenTelemetry.
//!
//! A request crosses processes (api → dispatcher → executor, a job queued now
//! and run later, a trigger's output feeding the next function), so its
//! spans only form one trace if each hop hands the next its span context.
//! That context travels as the W3C `traceparent`/`tracestate` headers: on
//! HTTP from the caller, and in NATS headers between roles. The sending
//! side calls [`inject`] where it builds a message's headers; the receiving
//! side calls [`adopt`] on the span it opens for the message.
//!
//! Spans become OpenTelemetry spans only when a process installs the
//! OpenTelemetry layer ([`crate::init_tracing`] does when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, a test may with its own exporter).
//! Without it both calls find no span context and do nothing, so tracing
//! off costs a lookup per message.

use async_nats::{HeaderMap, Message};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use protocol::headers;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context of the current span, written into an outgoing
/// message's headers (nothing when tracing is off or the span has none).
pub fn inject(map: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut NatsInjector(map));
    }
}

/// Makes `span` a child of the trace context a received message carries,
/// if it carries one.
pub fn adopt(span: &tracing::Span, message: &Message) {
    // Every exec message passes here; without tracing none carries context.
    let Some(map) =
        message.headers.as_ref().filter(|map| map.get(crate::header_name(headers::TRACEPARENT)).is_some())
    else {
        return;
    };
    set_parent(span, TraceContextPropagator::new().extract(&NatsExtractor(map)));
}

/// Makes `span` a child of the trace context an HTTP request carries, if it
/// carries a valid one (a malformed `traceparent` is ignored, as the W3C
/// recommendation says: the request then starts a trace of its own).
pub fn adopt_http(span: &tracing::Span, map: &http::HeaderMap) {
    // Every api request passes here; most carry no trace context.
    if !map.contains_key(headers::TRACEPARENT) {
        return;
    }
    set_parent(span, TraceContextPropagator::new().extract(&HttpExtractor(map)));
}

fn set_parent(span: &tracing::Span, context: Context) {
    if context.span().span_context().is_valid() {
        // Fails only for a span that is already closed or has no
        // OpenTelemetry data (tracing off): nothing to link then.
        let _ = span.set_parent(context);
    }
}

/// The two header names of W3C trace context, as the protocol spells them.
fn known(key: &str) -> Option<&'static str> {
    [headers::TRACEPARENT, headers::TRACESTATE].into_iter().find(|name| name.eq_ignore_ascii_case(key))
}

struct NatsInjector<'a>(&'a mut HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let Some(name) = known(key) {
            self.0.insert(name, value.as_str());
        }
    }
}

struct NatsExtractor<'a>(&'a HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(known(key)?).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        vec![headers::TRACEPARENT, headers::TRACESTATE]
    }
}

struct HttpExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HttpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(known(key)?).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        vec![headers::TRACEPARENT, headers::TRACESTATE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_subscriber::layer::SubscriberExt;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs `body` under a subscriber that records spans; returns its
    /// result and the finished spans (read before the provider shuts down,
    /// which empties the exporter).
    fn traced<T>(body: impl FnOnce() -> T) -> (T, Vec<SpanData>) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        let out = tracing::subscriber::with_default(subscriber, body);
        (out, exporter.get_finished_spans().unwrap())
    }

    #[test]
    fn a_received_trace_continues_into_the_next_message() {
        let mut incoming = HeaderMap::new();
        incoming.insert(headers::TRACEPARENT, PARENT);
        incoming.insert(headers::TRACESTATE, "vendor=1");
        let message = crate::message::received(Some(incoming), bytes::Bytes::new());
        let (outgoing, spans) = traced(|| {
            let span = tracing::info_span!("hop");
            adopt(&span, &message);
            let _entered = span.enter();
            let mut outgoing = HeaderMap::new();
            inject(&mut outgoing);
            outgoing
        });
        let sent = outgoing.get(headers::TRACEPARENT).expect("a traceparent is sent on").as_str();
        // Same trace, a new parent span (this hop's), sampled.
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{sent}");
        assert!(!sent.contains("00f067aa0ba902b7"), "{sent}");
        assert!(sent.ends_with("-01"), "{sent}");
        assert_eq!(outgoing.get(headers::TRACESTATE).map(|v| v.as_str()), Some("vendor=1"));
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(spans[0].parent_span_id.to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        let mut incoming = http::HeaderMap::new();
        incoming.insert(headers::TRACEPARENT, "00-zz-nonsense-01".parse().unwrap());
        let (_, spans) = traced(|| {
            let span = tracing::info_span!("http");
            adopt_http(&span, &incoming);
        });
        assert_eq!(spans.len(), 1);
        assert!(spans[0].span_context.is_valid());
        assert_eq!(spans[0].parent_span_id, opentelemetry::trace::SpanId::INVALID);
    }

    #[test]
    fn without_the_layer_nothing_is_sent() {
        let span = tracing::info_span!("hop");
        let _entered = span.enter();
        let mut outgoing = HeaderMap::new();
        inject(&mut outgoing);
        assert!(outgoing.get(headers::TRACEPARENT).is_none());
    }
}

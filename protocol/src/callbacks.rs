//! Job callbacks (`X-Callback-Url`): which URLs are accepted, how they are
//! shown, and where deliveries wait.
//!
//! A finished job's callback is not POSTed by the worker that finished it:
//! the worker stores a delivery in the [`callbacks_stream`](crate::jetstream::JetStreamNames::callbacks_stream) stream, and the
//! dispatchers' durable consumer [`callback_senders`](crate::jetstream::JetStreamNames::callback_senders) sends it, retried with
//! back-off, so a dispatcher restart does not lose it. A callback URL can
//! carry a receiver's token in its path or query, so the full URL travels
//! only in message headers ([`crate::headers::CALLBACK_URL`]) on the job, its
//! dead letter and its delivery; records, announcements, logs and errors
//! show it [`redact`]ed.

use crate::jobs::JobRecord;

/// The longest callback URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Checks a callback URL: absolute `http://` or `https://` with a host, no
/// user name or password, at most [`MAX_URL_LEN`] characters. The message
/// of a refusal never repeats the URL, which may hold a secret.
pub fn check_url(url: &str) -> Result<url::Url, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("the callback URL must start with http:// or https://")?;
    if url.len() > MAX_URL_LEN {
        return Err(format!("the callback URL is longer than {MAX_URL_LEN} characters"));
    }
    // Checked on the raw text too: the URL parser would read `http:///x`
    // as host `x`.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("not a usable callback URL: it needs a host and no spaces".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a usable callback URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the callback URL must not carry a user name or password (user:password@): \
                    deliveries are signed instead (webhook-signature)"
            .into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("not a usable callback URL: it needs a host".into());
    }
    Ok(parsed)
}

/// A callback URL as it may be shown: `scheme://host[:port]/` when it has
/// no path or query, else `scheme://host[:port]/…`. Path, query and any
/// credentials are never shown.
pub fn redact(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else { return "<invalid URL>".into() };
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let more = parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some();
    let tail = if more { "/…" } else { "/" };
    format!("{}://{host}{port}{tail}", parsed.scheme())
}

/// The id of a job's callback delivery: the same for every attempt of one
/// delivery (JetStream's de-duplication id and the `webhook-id` header), a
/// new one when a re-driven job finishes again.
pub fn delivery_id(record: &JobRecord) -> String {
    format!("{}-{}", record.job_id, record.finished_at_ms.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_must_be_absolute_http_with_a_host_and_no_credentials() {
        assert!(check_url("http://hooks.example:8080/done?x=1").is_ok());
        assert!(check_url("https://hooks.example/done").is_ok());
        assert!(check_url("https://[::1]:9/done").is_ok());
        for bad in ["ftp://x/", "http:///path", "http://a b/", "not a url", "https://:80/"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for with_credentials in [
            "https://user:pass@hooks.example/",
            "https://user@hooks.example/",
            "http://:secret@hooks.example/",
        ] {
            let refusal = check_url(with_credentials).unwrap_err();
            assert!(refusal.contains("user name or password"), "{refusal}");
            assert!(!refusal.contains("hooks.example"), "a refusal repeats the URL: {refusal}");
        }
        let long = format!("https://hooks.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long).unwrap_err().contains("longer"));
    }

    #[test]
    fn redacted_urls_keep_only_scheme_host_and_port() {
        assert_eq!(redact("https://hooks.example/done?token=s3cret"), "https://hooks.example/…");
        assert_eq!(redact("http://hooks.example:8080"), "http://hooks.example:8080/");
        assert_eq!(redact("https://user:pw@hooks.example/x"), "https://hooks.example/…");
        assert_eq!(redact("http://[::1]:9/a"), "http://[::1]:9/…");
        assert_eq!(redact("nonsense"), "<invalid URL>");
    }

    #[test]
    fn a_delivery_id_is_stable_per_outcome() {
        let mut record = JobRecord::queued("j1", "functions/hello".parse().unwrap(), 5);
        record.finished_at_ms = Some(7);
        assert_eq!(delivery_id(&record), "j1-7");
    }
}

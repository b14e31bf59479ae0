//! What the platform keeps about a bucket besides its functions: its
//! settings, one [`BucketSettings`] per bucket in the [`bucket_settings`](crate::jetstream::JetStreamNames::bucket_settings)
//! key-value bucket.
//!
//! Only the dispatcher writes them (admin commands), with the bucket's
//! creation, change and deletion; every api follows them live, because one
//! of them decides who may call at all: a bucket marked `public_invoke`
//! runs its functions for callers without a token.

use serde::{Deserialize, Serialize};

/// A bucket's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketSettings {
    /// Anyone may run its functions (`POST /exec/{b}/{f}`, `POST
    /// /async/{b}/{f}`) without a token, as an anonymous caller that may do
    /// nothing else: for webhooks.
    #[serde(default)]
    pub public_invoke: bool,
}

/// A change to a bucket's settings: the fields present are set, the
/// others kept. The body of `PATCH /bucket/{b}` and of `PUT /bucket/{b}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketSettingsChange {
    /// New value of [`BucketSettings::public_invoke`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_invoke: Option<bool>,
}

impl BucketSettings {
    /// These settings with `change` applied.
    pub fn changed(self, change: BucketSettingsChange) -> Self {
        Self { public_invoke: change.public_invoke.unwrap_or(self.public_invoke) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_only_what_it_names() {
        let public = BucketSettings { public_invoke: true };
        assert_eq!(public.changed(BucketSettingsChange::default()), public);
        let off = BucketSettingsChange { public_invoke: Some(false) };
        assert_eq!(public.changed(off), BucketSettings::default());
        let parsed: BucketSettingsChange = serde_json::from_str(r#"{"public_invoke": true}"#).unwrap();
        assert_eq!(parsed.public_invoke, Some(true));
        assert!(serde_json::from_str::<BucketSettingsChange>(r#"{"public": true}"#).is_err());
        assert_eq!(serde_json::from_str::<BucketSettings>("{}").unwrap(), BucketSettings::default());
    }
}

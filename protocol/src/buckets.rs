//! What the platform keeps about a bucket besides its functions: its
//! settings, one [`BucketSettings`] per bucket in the [`bucket_settings`](crate::jetstream::JetStreamNames::bucket_settings)
//! key-value bucket.
//!
//! Only the dispatcher writes them (admin commands), with the bucket's
//! creation, change and deletion; every api follows them live, because one
//! of them decides who may call at all: a bucket marked `public_invoke`
//! runs its functions for callers without a token. Executors follow them
//! too: a bucket's default capability grants apply to each of its functions
//! that sets none of its own.

use serde::{Deserialize, Serialize};

use crate::capabilities::CapabilityGrants;

/// A bucket's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketSettings {
    /// Anyone may run its functions (`POST /exec/{b}/{f}`, `POST
    /// /async/{b}/{f}`) without a token, as an anonymous caller that may do
    /// nothing else: for webhooks.
    #[serde(default)]
    pub public_invoke: bool,
    /// The host capabilities granted to each of its functions whose
    /// configuration sets no `capabilities` of its own (a function's own
    /// grants replace these, they are not merged). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CapabilityGrants>,
}

/// A change to a bucket's settings: the fields present are set, the
/// others kept. The body of `PATCH /bucket/{b}` and of `PUT /bucket/{b}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketSettingsChange {
    /// New value of [`BucketSettings::public_invoke`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_invoke: Option<bool>,
    /// New default grants ([`BucketSettings::capabilities`]), replacing the
    /// old ones whole; `{}` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CapabilityGrants>,
}

impl BucketSettingsChange {
    /// Checks what the change sets (the capability grants' subject
    /// patterns); the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match &self.capabilities {
            Some(grants) => grants.validate(),
            None => Ok(()),
        }
    }
}

impl BucketSettings {
    /// These settings with `change` applied.
    pub fn changed(self, change: BucketSettingsChange) -> Self {
        let capabilities = match change.capabilities {
            // Granting nothing is having no default.
            Some(grants) if grants == CapabilityGrants::default() => None,
            Some(grants) => Some(grants),
            None => self.capabilities,
        };
        Self { public_invoke: change.public_invoke.unwrap_or(self.public_invoke), capabilities }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_only_what_it_names() {
        let public = BucketSettings { public_invoke: true, ..Default::default() };
        assert_eq!(public.clone().changed(BucketSettingsChange::default()), public);
        let off = BucketSettingsChange { public_invoke: Some(false), ..Default::default() };
        assert_eq!(public.changed(off), BucketSettings::default());
        let parsed: BucketSettingsChange = serde_json::from_str(r#"{"public_invoke": true}"#).unwrap();
        assert_eq!(parsed.public_invoke, Some(true));
        assert!(serde_json::from_str::<BucketSettingsChange>(r#"{"public": true}"#).is_err());
        assert_eq!(serde_json::from_str::<BucketSettings>("{}").unwrap(), BucketSettings::default());
    }

    #[test]
    fn default_grants_are_replaced_whole_kept_when_unnamed_and_removed_by_nothing() {
        let change: BucketSettingsChange =
            serde_json::from_str(r#"{"capabilities": {"messaging": {"publish": ["orders.>"]}}}"#).unwrap();
        change.validate().unwrap();
        let granted = BucketSettings::default().changed(change);
        let grants = granted.capabilities.clone().unwrap();
        assert_eq!(grants.messaging.publish, vec!["orders.>".to_owned()]);
        let public = BucketSettingsChange { public_invoke: Some(true), ..Default::default() };
        assert_eq!(granted.clone().changed(public).capabilities, Some(grants));
        let nothing: BucketSettingsChange = serde_json::from_str(r#"{"capabilities": {}}"#).unwrap();
        assert_eq!(granted.changed(nothing).capabilities, None);
        let bad: BucketSettingsChange =
            serde_json::from_str(r#"{"capabilities": {"messaging": {"publish": ["$JS.>"]}}}"#).unwrap();
        assert!(bad.validate().is_err());
        // Settings stored before capabilities existed still parse, and
        // settings without them are stored as before.
        let old: BucketSettings = serde_json::from_str(r#"{"public_invoke": true}"#).unwrap();
        assert_eq!(serde_json::to_value(&old).unwrap(), serde_json::json!({"public_invoke": true}));
    }
}

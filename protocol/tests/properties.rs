//! Property tests of the validators at the platform's edge: whatever a
//! client sends, a name that validates is one safe subject token and a
//! valid S3 name, a trigger subject that validates cannot receive the
//! platform's own traffic, and a request id that validates is a safe header
//! value.

use faas_protocol::headers::{MAX_REQUEST_ID_LEN, is_valid_request_id};
use faas_protocol::subjects::subjects_intersect;
use faas_protocol::{BucketName, FunctionName, FunctionRef, PipelineName, Subjects, Target, TriggerName};
use proptest::prelude::*;

/// Strings biased towards the characters that matter: subject syntax,
/// whitespace, case, separators, non-ASCII.
fn edgy_string(max: usize) -> impl Strategy<Value = String> {
    let special = vec!['-', '_', '.', '*', '>', '$', ' ', '\t', '\r', '\n', '/', ':', '\0', 'ü', '€'];
    let chars = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        2 => proptest::sample::select(special),
        1 => any::<char>(),
    ];
    proptest::collection::vec(chars, 0..=max).prop_map(|chars| chars.into_iter().collect())
}

/// Subject tokens biased towards the ones that reach the platform or NATS itself.
fn edgy_subject() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("*".to_owned()),
        Just(">".to_owned()),
        Just("faas".to_owned()),
        Just("exec".to_owned()),
        Just("jobs".to_owned()),
        Just("$JS".to_owned()),
        Just("_INBOX".to_owned()),
        "[a-z]{1,5}",
    ];
    proptest::collection::vec(token, 1..6).prop_map(|tokens| tokens.join("."))
}

fn is_subject_token_safe(name: &str) -> bool {
    !name.is_empty() && !name.contains(['.', '*', '>']) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// Subjects the platform and NATS itself use, which no trigger may receive.
const NOT_FOR_TRIGGERS: [&str; 11] = [
    "faas.exec.b.f",
    "faas.jobs.b.f",
    "faas.admin.put_function",
    "faas.pipeline.p",
    "faas.errors.trigger.t",
    "faas.results.b.f",
    "faas.deadletter.j",
    "faas.ping.executor",
    "$JS.API.INFO",
    "$KV.faas-functions.k",
    "_INBOX.abc",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn a_valid_bucket_name_is_an_s3_bucket_and_one_subject_token(name in edgy_string(70)) {
        if let Ok(bucket) = BucketName::new(name.clone()) {
            prop_assert!((3..=63).contains(&name.len()));
            prop_assert!(is_subject_token_safe(&name));
            prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(!name.starts_with('-') && !name.ends_with('-'));
            prop_assert_ne!(bucket.as_str(), "pipeline");
        }
    }

    #[test]
    fn generated_valid_names_are_accepted_and_refused_past_their_limit(
        bucket in "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
        function in "[A-Za-z0-9][A-Za-z0-9_-]{0,127}",
    ) {
        prop_assume!(bucket != "pipeline");
        prop_assert!(BucketName::new(bucket.clone()).is_ok());
        prop_assert!(FunctionName::new(function.clone()).is_ok());
        prop_assert!(TriggerName::new(function.clone()).is_ok());
        prop_assert!(PipelineName::new(function.clone()).is_ok());
        let long_bucket = format!("{bucket}{}", "a".repeat(64 - bucket.len()));
        prop_assert!(BucketName::new(long_bucket).is_err());
        let long_function = format!("{function}{}", "a".repeat(129 - function.len()));
        prop_assert!(FunctionName::new(long_function).is_err());
    }

    #[test]
    fn valid_names_make_subjects_that_parse_back(
        bucket in edgy_string(70),
        function in edgy_string(140),
        prefix in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
    ) {
        let subjects = Subjects::new(prefix.clone());
        if let Ok(function) = FunctionRef::new(&bucket, &function) {
            prop_assert!(is_subject_token_safe(function.function.as_str()));
            let exec = subjects.exec(&function);
            prop_assert_eq!(exec.split('.').count(), prefix.split('.').count() + 3);
            prop_assert_eq!(subjects.parse_exec(&exec), Some(function.clone()));
            let target = Target::Function(function);
            prop_assert_eq!(subjects.parse_job(&subjects.job(&target)), Some(target.clone()));
            prop_assert_eq!(target.to_string().parse::<Target>().ok(), Some(target));
        }
        if let Ok(name) = PipelineName::new(function.clone()) {
            prop_assert_eq!(subjects.parse_pipeline(&subjects.pipeline(&name)), Some(name.clone()));
            let target = Target::Pipeline(name);
            prop_assert_eq!(subjects.parse_job(&subjects.job(&target)), Some(target));
        }
    }

    #[test]
    fn an_accepted_trigger_subject_never_receives_platform_or_system_traffic(
        random in edgy_string(40),
        built in edgy_subject(),
    ) {
        let subjects = Subjects::default();
        for candidate in [random, built] {
            if subjects.check_trigger_subject(&candidate).is_ok() {
                prop_assert!(!candidate.is_empty() && candidate.len() <= 255);
                let tokens_ok = candidate.split('.').all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(tokens_ok, "{}", candidate);
                for own in NOT_FOR_TRIGGERS {
                    prop_assert!(!subjects_intersect(&candidate, own), "{} receives {}", candidate, own);
                }
            }
            if subjects.check_output_subject(&candidate).is_ok() {
                prop_assert!(candidate.split('.').all(|t| t != "*" && t != ">"));
                for own in NOT_FOR_TRIGGERS {
                    prop_assert!(!subjects_intersect(&candidate, own), "output on {} reaches {}", candidate, own);
                }
            }
        }
    }

    #[test]
    fn an_accepted_request_id_is_a_safe_header_value(value in edgy_string(80)) {
        if is_valid_request_id(&value) {
            prop_assert!((1..=MAX_REQUEST_ID_LEN).contains(&value.len()));
            prop_assert!(value.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
        }
    }

    #[test]
    fn generated_request_ids_are_kept_and_refused_past_the_limit(value in "[A-Za-z0-9_-]{1,64}") {
        prop_assert!(is_valid_request_id(&value));
        let too_long = format!("{value}{}", "x".repeat(65 - value.len()));
        prop_assert!(!is_valid_request_id(&too_long));
    }
}

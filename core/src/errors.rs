//! Classifies a failed DynamoDB (or any AWS JSON API) call into what the user can act on.
//! Decided here, in pure code, so the page and the service worker agree and it is tested.

/// What a failed call looked like from the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// The request never got an HTTP answer (connection refused, DNS, CORS, offline, timeout).
    pub transport: bool,
    pub http_status: Option<u16>,
    /// The service error code: the `__type` after '#' or the `x-amzn-ErrorType` header.
    pub code: Option<String>,
    /// The service's own message (never holds a secret: AWS does not echo them), kept
    /// for the log and read for the clock offset of a skewed signature.
    pub message: Option<String>,
}

impl Failure {
    pub fn transport() -> Self {
        Failure {
            transport: true,
            ..Default::default()
        }
    }
    pub fn service(status: u16, code: &str) -> Self {
        // "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" -> the part after '#';
        // "ExpiredTokenException:http://..." (header form) -> the part before ':'
        let code = code.rsplit('#').next().unwrap_or(code);
        let code = code.split(':').next().unwrap_or(code).trim();
        Failure {
            transport: false,
            http_status: Some(status),
            code: (!code.is_empty()).then(|| code.to_string()),
            message: None,
        }
    }

    pub fn with_message(mut self, message: Option<&str>) -> Self {
        self.message = message.map(str::to_string);
        self
    }

    /// How far this device's clock is behind AWS's (milliseconds; negative: ahead), when
    /// the failure is a signature refused for its time: "Signature expired: <request> is
    /// now earlier than <t> (<server now> - 5 min.)" or "Signature not yet current:
    /// <request> is still later than <t> (<server now> + 5 min.)".
    pub fn clock_offset_ms(&self) -> Option<i64> {
        let m = self.message.as_deref()?;
        if !(m.contains("Signature expired") || m.contains("Signature not yet current")) {
            return None;
        }
        let request = m.split(':').nth(1)?.split_whitespace().next()?;
        Some(self.server_time_ms()? - stamp_ms(request)?)
    }

    /// DynamoDB's own time (milliseconds since the epoch) as a refused signature's
    /// message tells it (the time in parentheses).
    pub fn server_time_ms(&self) -> Option<i64> {
        let m = self.message.as_deref()?;
        if !(m.contains("Signature expired") || m.contains("Signature not yet current")) {
            return None;
        }
        stamp_ms(m.split('(').nth(1)?.split_whitespace().next()?)
    }
}

/// "20261202T022108Z" as milliseconds since the epoch.
fn stamp_ms(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    CredentialsExpired,
    CredentialsInvalid,
    AccessDenied,
    TableMissing,
    NetworkUnreachable,
    Throttled,
    ServiceUnavailable,
    RequestInvalid,
    /// A conditional write failed: someone else changed the item (the sync's conflict path).
    Conflict,
    /// The request's signature time is more than 5 minutes off DynamoDB's clock: this
    /// device's clock is wrong (new credentials cannot help).
    ClockSkew,
}

/// Classifies a failure. `worked_before`: these credentials have succeeded at least once
/// (an `UnrecognizedClientException` then means the Academy session ended, not a typo).
pub fn classify(f: &Failure, worked_before: bool) -> ErrorClass {
    use ErrorClass::*;
    if f.transport {
        return NetworkUnreachable;
    }
    if f.clock_offset_ms().is_some() {
        return ClockSkew;
    }
    if let Some(code) = f.code.as_deref() {
        match code {
            "ExpiredTokenException" | "ExpiredToken" | "TokenRefreshRequired" => {
                return CredentialsExpired
            }
            "UnrecognizedClientException" | "InvalidClientTokenId" => {
                return if worked_before {
                    CredentialsExpired
                } else {
                    CredentialsInvalid
                };
            }
            "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "IncompleteSignatureException"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException"
            | "InvalidAccessKeyId" => return CredentialsInvalid,
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
                return AccessDenied
            }
            "ResourceNotFoundException" => return TableMissing,
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "Throttling"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "LimitExceededException" => return Throttled,
            "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException" => return ServiceUnavailable,
            "ConditionalCheckFailedException" | "TransactionConflictException" => return Conflict,
            "ValidationException"
            | "SerializationException"
            | "ItemCollectionSizeLimitExceededException"
            | "RequestExpired"
            | "InvalidParameterValue" => return RequestInvalid,
            _ => {}
        }
    }
    match f.http_status {
        Some(429) => Throttled,
        Some(401) => {
            if worked_before {
                CredentialsExpired
            } else {
                CredentialsInvalid
            }
        }
        Some(403) => AccessDenied,
        Some(404) => TableMissing,
        Some(s) if s >= 500 => ServiceUnavailable,
        Some(_) => RequestInvalid,
        // no status and not a transport error: nothing usable came back
        None => NetworkUnreachable,
    }
}

impl ErrorClass {
    /// Short label for the status indicator and the operation log.
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::CredentialsExpired => "credentials expired",
            ErrorClass::CredentialsInvalid => "credentials invalid",
            ErrorClass::AccessDenied => "access denied",
            ErrorClass::TableMissing => "table missing",
            ErrorClass::NetworkUnreachable => "network unreachable",
            ErrorClass::Throttled => "throttled",
            ErrorClass::ServiceUnavailable => "service unavailable",
            ErrorClass::RequestInvalid => "request invalid",
            ErrorClass::Conflict => "conflict",
            ErrorClass::ClockSkew => "clock wrong",
        }
    }

    /// What happened, for the user.
    pub fn message(self) -> &'static str {
        match self {
            ErrorClass::CredentialsExpired => "Your AWS credentials have expired (AWS Academy sessions last about 4 hours).",
            ErrorClass::CredentialsInvalid => "AWS did not accept these credentials: the key id, secret or session token is wrong.",
            ErrorClass::AccessDenied => "These credentials are valid but not allowed to use this DynamoDB table.",
            ErrorClass::TableMissing => "The DynamoDB table does not exist in this region (or the endpoint is wrong).",
            ErrorClass::NetworkUnreachable => "DynamoDB could not be reached: no network, the lab is stopped, the endpoint is wrong, or the \
                 browser blocked the request (CORS) — a browser cannot tell these apart.",
            ErrorClass::Throttled => "DynamoDB is throttling requests (too many at once for the table's capacity).",
            ErrorClass::ServiceUnavailable => "DynamoDB answered with a server error (5xx): the service is having trouble.",
            ErrorClass::RequestInvalid => "DynamoDB rejected the request as invalid (for example an item over 400 KB).",
            ErrorClass::Conflict => "The item was changed elsewhere since this device last saw it.",
            ErrorClass::ClockSkew => "This device's clock is more than 5 minutes off, so AWS refuses its signed requests (\"Signature expired\").",
        }
    }

    /// What the user can do about it.
    pub fn action(self) -> &'static str {
        match self {
            ErrorClass::CredentialsExpired => "Start the lab again if it stopped, open AWS Details → Show, copy the [default] block and paste \
                 it in Settings → AWS credentials. Your work is kept here and uploads afterwards.",
            ErrorClass::CredentialsInvalid => "Copy the whole [default] block again from AWS Details → Show and paste it in Settings.",
            ErrorClass::AccessDenied => "Use credentials whose IAM policy allows this table (see the README's IAM policy), or check the table name.",
            ErrorClass::TableMissing => "Check the region, endpoint and table name in Settings, or create the table.",
            ErrorClass::NetworkUnreachable => "Keep working: everything is saved in this browser and uploads when DynamoDB is back. Check that \
                 the lab is started and the endpoint is right; export a backup if you will be offline long.",
            ErrorClass::Throttled => "Nothing to do: the app retries with backoff.",
            ErrorClass::ServiceUnavailable => "Nothing to do: the app retries. If it lasts, check the AWS Health Dashboard.",
            ErrorClass::RequestInvalid => "The affected invoice is marked; shorten it (fewer lines, smaller notes) and save again.",
            ErrorClass::Conflict => "Review it under Conflicts: keep DynamoDB's version or restore yours.",
            ErrorClass::ClockSkew => "Set this device's date and time (turn on automatic time). The app corrects its requests by the measured offset meanwhile; your credentials are fine.",
        }
    }

    /// Worth retrying automatically (with backoff) without the user doing anything.
    /// Only new credentials can mend this: nothing is sent with these until then (a
    /// check still probes them).
    pub fn needs_new_credentials(self) -> bool {
        matches!(
            self,
            ErrorClass::CredentialsExpired | ErrorClass::CredentialsInvalid
        )
    }

    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::NetworkUnreachable | ErrorClass::Throttled | ErrorClass::ServiceUnavailable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    fn svc(status: u16, code: &str) -> ErrorClass {
        classify(&Failure::service(status, code), false)
    }

    #[test]
    fn every_class_from_real_error_shapes() {
        assert_eq!(
            svc(400, "com.amazon.coral.service#ExpiredTokenException"),
            CredentialsExpired
        );
        assert_eq!(
            svc(400, "com.amazon.coral.service#UnrecognizedClientException"),
            CredentialsInvalid
        );
        assert_eq!(
            classify(&Failure::service(400, "UnrecognizedClientException"), true),
            CredentialsExpired
        );
        assert_eq!(
            svc(400, "com.amazon.coral.service#InvalidSignatureException"),
            CredentialsInvalid
        );
        assert_eq!(
            svc(400, "com.amazon.coral.service#AccessDeniedException"),
            AccessDenied
        );
        assert_eq!(
            svc(
                400,
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            ),
            TableMissing
        );
        assert_eq!(classify(&Failure::transport(), true), NetworkUnreachable);
        assert_eq!(
            svc(
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            ),
            Throttled
        );
        assert_eq!(svc(400, "ThrottlingException"), Throttled);
        assert_eq!(
            svc(500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
            ServiceUnavailable
        );
        assert_eq!(svc(503, ""), ServiceUnavailable);
        assert_eq!(
            svc(400, "com.amazon.coral.validate#ValidationException"),
            RequestInvalid
        );
        assert_eq!(
            svc(
                400,
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
            ),
            Conflict
        );
        // header form of the code
        assert_eq!(
            svc(
                400,
                "ExpiredTokenException:http://internal.amazon.com/coral/"
            ),
            CredentialsExpired
        );
    }

    #[test]
    fn a_skewed_clock_is_not_a_credentials_problem() {
        let expired = Failure::service(400, "com.amazon.coral.service#InvalidSignatureException")
            .with_message(Some("Signature expired: 20261202T020000Z is now earlier than 20261202T021500Z (20261202T022000Z - 5 min.)"));
        assert_eq!(classify(&expired, true), ClockSkew);
        assert_eq!(expired.clock_offset_ms(), Some(20 * 60 * 1000));
        assert_eq!(expired.server_time_ms(), Some(1_796_178_000_000));
        let ahead = Failure::service(400, "InvalidSignatureException")
            .with_message(Some("Signature not yet current: 20261202T024000Z is still later than 20261202T022500Z (20261202T022000Z + 5 min.)"));
        assert_eq!(classify(&ahead, false), ClockSkew);
        assert_eq!(ahead.clock_offset_ms(), Some(-20 * 60 * 1000));
        let wrong_secret = Failure::service(400, "InvalidSignatureException").with_message(Some(
            "The request signature we calculated does not match the signature you provided.",
        ));
        assert_eq!(classify(&wrong_secret, false), CredentialsInvalid);
        assert_eq!(wrong_secret.clock_offset_ms(), None);
        assert!(ClockSkew.action().contains("date and time"));
        assert!(!ClockSkew.retryable());
    }

    #[test]
    fn status_fallbacks() {
        assert_eq!(svc(429, "Weird"), Throttled);
        assert_eq!(svc(403, ""), AccessDenied);
        assert_eq!(svc(502, "Bad Gateway"), ServiceUnavailable);
        assert_eq!(svc(400, "SomethingNew"), RequestInvalid);
        assert_eq!(classify(&Failure::default(), false), NetworkUnreachable);
    }

    #[test]
    fn retry_policy_and_texts() {
        for c in [
            CredentialsExpired,
            CredentialsInvalid,
            AccessDenied,
            TableMissing,
            RequestInvalid,
            Conflict,
        ] {
            assert!(!c.retryable(), "{c:?}");
        }
        for c in [NetworkUnreachable, Throttled, ServiceUnavailable] {
            assert!(c.retryable());
        }
        assert!(NetworkUnreachable.message().contains("CORS"));
        assert!(CredentialsExpired.action().contains("AWS Details"));
    }

    #[test]
    fn only_expired_or_invalid_credentials_hold_the_replays() {
        let all = [
            CredentialsExpired,
            CredentialsInvalid,
            AccessDenied,
            TableMissing,
            NetworkUnreachable,
            Throttled,
            ServiceUnavailable,
            RequestInvalid,
            Conflict,
            ClockSkew,
        ];
        let held: Vec<ErrorClass> = all
            .into_iter()
            .filter(|c| c.needs_new_credentials())
            .collect();
        assert_eq!(held, vec![CredentialsExpired, CredentialsInvalid]);
        assert!(held.iter().all(|c| !c.retryable()));
    }
}

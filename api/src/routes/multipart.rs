//! Reading the one `file` part of a multipart upload with bounded memory.
//!
//! The multipart parser (multer, behind axum's `Multipart`) buffers a part's
//! headers until their blank line, however long that takes, and counts no
//! bytes of its own. So the body it reads is bounded first: the whole
//! request to the upload limit plus [`FRAMING_ROOM`], and each part's
//! header block to [`PART_HEADER_LIMIT`] bytes, checked as the bytes go by
//! ([`PartHeaderGuard`]) without keeping them.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use http_body_util::{LengthLimitError, Limited};
use hyper::body::{Frame, SizeHint};
use protocol::ErrorCode;

use super::body::{find_cause, read_failed, too_large};
use crate::error::ApiError;
use crate::state::AppState;

/// Largest header block of one part (its `Content-Disposition`,
/// `Content-Type` and the like take a few hundred bytes).
pub const PART_HEADER_LIMIT: usize = 8 << 10;

/// Bytes a multipart body may hold beyond the file itself: boundaries,
/// part headers, small extra fields.
pub const FRAMING_ROOM: usize = 64 << 10;

/// The field that carries the component.
const FILE_FIELD: &str = "file";

/// The field that carries the new version's description.
const DESCRIPTION_FIELD: &str = "description";

/// Whether the request carries a multipart body.
pub fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The bytes of the one `file` part, at most `limit` of them, and the
/// `description` part (the version's, at most 1 KiB of UTF-8); other fields
/// are read past and dropped, a second `file` or `description` part is a 400.
pub async fn read_file_part(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<(Bytes, Option<String>), ApiError> {
    let Some(boundary) = request.headers().get(header::CONTENT_TYPE).and_then(|v| boundary(v.to_str().ok()?))
    else {
        return Err(malformed("the Content-Type has no boundary"));
    };
    let total = limit.saturating_add(FRAMING_ROOM);
    let (parts, body) = request.into_parts();
    let body = Limited::new(PartHeaderGuard::new(body, &boundary), total);
    let request = Request::from_parts(parts, Body::new(body));
    let mut multipart =
        Multipart::from_request(request, state).await.map_err(|e| malformed(&e.to_string()))?;
    let upload_error = |err: axum::extract::multipart::MultipartError| {
        if find_cause::<LengthLimitError>(&err).is_some() {
            too_large("the multipart upload", total)
        } else if let Some(guard) = find_cause::<PartHeadersTooLarge>(&err) {
            ApiError::new(ErrorCode::PayloadTooLarge, guard.to_string())
        } else if find_cause::<crate::timeouts::BodyTimeout>(&err).is_some() {
            read_failed(&err)
        } else {
            malformed(&err.to_string())
        }
    };
    let mut file = None;
    let mut description = None;
    while let Some(mut field) = multipart.next_field().await.map_err(upload_error)? {
        if field.name() == Some(DESCRIPTION_FIELD) {
            if description.is_some() {
                return Err(malformed("only one part named \"description\" is accepted"));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(upload_error)? {
                if bytes.len() + chunk.len() > protocol::versions::DESCRIPTION_MAX_BYTES {
                    let limit = protocol::versions::DESCRIPTION_MAX_BYTES;
                    let why = format!("the description is longer than {limit} bytes");
                    return Err(ApiError::new(ErrorCode::BadRequest, why));
                }
                bytes.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(bytes).map_err(|_| malformed("the description is not UTF-8"))?;
            description = Some(text);
            continue;
        }
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        if file.is_some() {
            return Err(malformed("only one part named \"file\" is accepted"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(upload_error)? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large("the upload", limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some(Bytes::from(bytes));
    }
    let file = file.ok_or_else(|| malformed("no part named \"file\""))?;
    Ok((file, description))
}

fn malformed(why: &str) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, format!("malformed multipart body: {why}"))
}

/// The `boundary` parameter of a multipart Content-Type, unquoted.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then(|| value.to_owned())
    })
}

/// A part's header block ran past [`PART_HEADER_LIMIT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a multipart part's headers exceed the limit of {PART_HEADER_LIMIT} bytes")]
pub struct PartHeadersTooLarge;

/// Passes a multipart body through, failing it when a part's header block
/// (from a boundary line to the blank line) is longer than
/// [`PART_HEADER_LIMIT`]. It keeps only the few bytes that may begin a
/// delimiter across two chunks.
pub struct PartHeaderGuard {
    body: Body,
    scanner: HeaderScanner,
}

impl PartHeaderGuard {
    /// Guards `body`, a multipart body with this boundary.
    pub fn new(body: Body, boundary: &str) -> Self {
        Self { body, scanner: HeaderScanner::new(boundary, PART_HEADER_LIMIT) }
    }
}

impl hyper::body::Body for PartHeaderGuard {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref()
            && let Err(err) = this.scanner.scan(data)
        {
            return Poll::Ready(Some(Err(err.into())));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Where in the multipart framing the bytes seen so far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// In the preamble or a part's data: looking for a delimiter.
    Data,
    /// After a delimiter: this many header bytes seen, looking for the blank line.
    Headers(usize),
    /// After the closing delimiter: nothing more to check.
    Done,
}

/// The framing state machine of [`PartHeaderGuard`].
#[derive(Debug)]
struct HeaderScanner {
    /// `CRLF--boundary`: what starts every part and the end.
    delimiter: Vec<u8>,
    limit: usize,
    /// The tail of the bytes seen that may begin a delimiter or a blank line.
    carry: Vec<u8>,
    position: Position,
}

const BLANK_LINE: &[u8] = b"\r\n\r\n";

impl HeaderScanner {
    fn new(boundary: &str, limit: usize) -> Self {
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        // The first delimiter may open the body with no CRLF before it.
        Self { delimiter, limit, carry: b"\r\n".to_vec(), position: Position::Data }
    }

    fn scan(&mut self, chunk: &[u8]) -> Result<(), PartHeadersTooLarge> {
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            let rest = &window[at..];
            match self.position {
                Position::Done => return Ok(()),
                Position::Data => match find(rest, &self.delimiter) {
                    Some(i) => {
                        at += i + self.delimiter.len();
                        self.position = Position::Headers(0);
                    }
                    None => {
                        let keep = rest.len().min(self.delimiter.len() - 1);
                        self.carry = rest[rest.len() - keep..].to_vec();
                        return Ok(());
                    }
                },
                Position::Headers(seen) => {
                    if seen == 0 && rest.len() < 2 {
                        self.carry = rest.to_vec();
                        return Ok(());
                    }
                    if seen == 0 && rest.starts_with(b"--") {
                        self.position = Position::Done;
                        return Ok(());
                    }
                    match find(rest, BLANK_LINE) {
                        Some(i) if seen + i <= self.limit => {
                            at += i + BLANK_LINE.len();
                            self.position = Position::Data;
                        }
                        Some(_) => return Err(PartHeadersTooLarge),
                        None if seen + rest.len() > self.limit => return Err(PartHeadersTooLarge),
                        None => {
                            // The last bytes may begin the blank line: look at them again.
                            let keep = rest.len().min(BLANK_LINE.len() - 1);
                            self.position = Position::Headers(seen + rest.len() - keep);
                            self.carry = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Where `needle` first starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let start = from + i;
        if haystack[start..].starts_with(needle) {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(boundary: &str, parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (headers, data) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n{data}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    /// Feeds `bytes` in chunks of `size`.
    fn scan_in_chunks(bytes: &[u8], size: usize, limit: usize) -> Result<(), PartHeadersTooLarge> {
        let mut scanner = HeaderScanner::new("XyZ", limit);
        bytes.chunks(size).try_for_each(|chunk| scanner.scan(chunk))
    }

    #[test]
    fn well_formed_bodies_pass_in_any_chunking() {
        let headers = "Content-Disposition: form-data; name=\"file\"; filename=\"a.wasm\"";
        let data = "\r\n--Xy not a delimiter\r\n\r\n".repeat(50);
        let bytes = body("XyZ", &[(headers, &data), ("Content-Disposition: form-data; name=\"x\"", "1")]);
        for size in [1, 2, 3, 5, 7, 64, bytes.len()] {
            assert_eq!(scan_in_chunks(&bytes, size, 100), Ok(()), "chunks of {size}");
        }
    }

    #[test]
    fn a_header_block_past_the_limit_is_refused_in_any_chunking() {
        let long = format!("X-Pad: {}", "a".repeat(200));
        let bytes = body("XyZ", &[(&long, "data")]);
        for size in [1, 3, 4, 64, bytes.len()] {
            assert_eq!(scan_in_chunks(&bytes, size, 100), Err(PartHeadersTooLarge), "chunks of {size}");
        }
        // A header that never ends is refused once the limit passes, not at the end.
        let mut scanner = HeaderScanner::new("XyZ", 100);
        assert_eq!(scanner.scan(b"--XyZ\r\nContent-Disposition: "), Ok(()));
        let refused = (0..100).map(|_| scanner.scan(&[b'a'; 10])).position(|r| r.is_err());
        assert_eq!(refused, Some(7));
        assert!(scanner.carry.len() < 8);
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary("multipart/form-data; charset=x; Boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }
}

//! A `multipart/form-data` reader (RFC 7578) over a body held in memory: the boundary from
//! the content type, then each part's name, file name and bytes, borrowed from the body.

/// One part of a form.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The form field's name.
    pub name: String,
    /// The file name the client gave, for a file part.
    pub filename: Option<String>,
    /// The part's bytes.
    pub data: &'a [u8],
}

impl Part<'_> {
    /// The form field, for an error detail: `file` when the part has no name.
    pub fn field(&self) -> String {
        if self.name.is_empty() {
            "file".to_string()
        } else {
            self.name.clone()
        }
    }

    /// The file name the client gave, empty when none.
    pub fn file_name(&self) -> String {
        self.filename.clone().unwrap_or_default()
    }
}

/// Why a body is not a form.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = split_params(content_type).into_iter();
    let essence = params.next()?;
    if !essence.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params
        .filter_map(|param| parse_param(&param))
        .find_map(|(key, value)| (key == "boundary").then_some(value))?;
    (1..=70).contains(&boundary.len()).then_some(boundary)
}

/// The parts of `body`, delimited by `boundary`.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, Malformed> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let first = find(body, delimiter, 0).ok_or(Malformed("the body has no parts"))?;
    let mut pos = first + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        pos = skip_line_end(body, pos)?;
        let (headers, start) = split_headers(body, pos)?;
        let end = find_next_delimiter(body, delimiter, start)?;
        parts.push(part(headers, &body[start..end])?);
        pos = end + 2 + delimiter.len();
    }
}

/// Skips transport padding and the CRLF that ends a delimiter line.
fn skip_line_end(body: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    while matches!(body.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    if body[pos..].starts_with(b"\r\n") {
        Ok(pos + 2)
    } else {
        Err(Malformed("a boundary line does not end with CRLF"))
    }
}

/// The header block of a part starting at `pos`, and where its content starts.
fn split_headers(body: &[u8], pos: usize) -> Result<(&[u8], usize), Malformed> {
    if body[pos..].starts_with(b"\r\n") {
        return Ok((&[], pos + 2));
    }
    let end = find(body, b"\r\n\r\n", pos).ok_or(Malformed("a part's headers do not end"))?;
    Ok((&body[pos..end], end + 4))
}

/// Where the content that starts at `from` ends: at the CRLF before the next delimiter.
fn find_next_delimiter(body: &[u8], delimiter: &[u8], from: usize) -> Result<usize, Malformed> {
    let mut at = from;
    loop {
        let crlf = find(body, b"\r\n", at).ok_or(Malformed("the last part is not closed"))?;
        if body[crlf + 2..].starts_with(delimiter) {
            return Ok(crlf);
        }
        at = crlf + 1;
    }
}

/// A part from its header block and content.
fn part<'a>(headers: &[u8], data: &'a [u8]) -> Result<Part<'a>, Malformed> {
    let headers = String::from_utf8_lossy(headers);
    let disposition = headers
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, value)| value.to_string())
        .ok_or(Malformed("a part has no Content-Disposition"))?;
    let mut params = split_params(&disposition).into_iter();
    let kind = params.next().unwrap_or_default();
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(Malformed("a part is not form-data"));
    }
    let params: Vec<(String, String)> = params.filter_map(|p| parse_param(&p)).collect();
    let value = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let extended = value("filename*").and_then(|v| decode_extended(&v));
    Ok(Part {
        name: value("name").unwrap_or_default(),
        filename: extended.or_else(|| value("filename")),
        data,
    })
}

/// Splits a header value at the `;` that are outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut params = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        if c == ';' && !quoted {
            params.push(String::new());
            continue;
        }
        if c == '"' && !escaped {
            quoted = !quoted;
        }
        escaped = quoted && c == '\\' && !escaped;
        if let Some(last) = params.last_mut() {
            last.push(c);
        }
    }
    params
}

/// `key=value` with the key lower-cased and the value unquoted.
fn parse_param(param: &str) -> Option<(String, String)> {
    let (key, value) = param.split_once('=')?;
    let value = value.trim();
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => unescape(inner),
        None => value.to_string(),
    };
    Some((key.trim().to_ascii_lowercase(), value))
}

/// Removes the backslashes of a quoted string's escapes.
fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 8187 value, `UTF-8''percent%20encoded`.
fn decode_extended(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut iter = encoded.bytes();
    while let Some(byte) = iter.next() {
        if byte != b'%' {
            bytes.push(byte);
            continue;
        }
        let hex = [iter.next()?, iter.next()?];
        let hex = std::str::from_utf8(&hex).ok()?;
        bytes.push(u8::from_str_radix(hex, 16).ok()?);
    }
    String::from_utf8(bytes).ok()
}

/// The first index at or after `from` where `needle` occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut at = from;
    while at <= last_start {
        at += haystack[at..=last_start].iter().position(|&b| b == first)?;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"preamble\r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a;b.png\"\r\n\
        Content-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n\
        --XyZ--\r\nepilogue";

    #[test]
    fn boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json; boundary=XyZ"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parts_carry_name_file_name_and_bytes() {
        let parts = parse(FORM, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data),
            ("note", &b"hello"[..])
        );
        assert_eq!(parts[0].filename, None);
        assert_eq!(parts[1].filename.as_deref(), Some("a;b.png"));
        assert_eq!(parts[1].data, b"\x89PNG\r\n--X");
    }

    #[test]
    fn extended_file_names_are_decoded() {
        let form = b"--b\r\nContent-Disposition: form-data; name=f; filename=\"x\"; \
            filename*=UTF-8''%E1%BA%A3nh.png\r\n\r\n1\r\n--b--";
        let parts = parse(form, "b").unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some("ảnh.png"));
    }

    #[test]
    fn unclosed_or_headless_forms_are_malformed() {
        assert!(
            parse(
                b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\nxx",
                "b"
            )
            .is_err()
        );
        assert!(parse(b"--b\r\n\r\nxx\r\n--b--", "b").is_err());
        assert!(parse(b"nothing here", "b").is_err());
    }

    #[test]
    fn find_locates_needles() {
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"aaa", b"a", 3), None);
    }
}

//! Turning one message's bytes into what the detail view shows: header lines
//! with their byte ranges, the payload decoded by its `Content-Type` charset,
//! and a JSON tree whose nodes know their bytes (for the linked hex view).
//! Runs on the reader thread; bounded in depth and node count.

use std::ops::Range;

/// One header line of the stored block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLine {
    pub name: String,
    pub value: String,
    /// Bytes of the whole line (without its CRLF) inside the header block.
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A node of the JSON tree, in document (pre-)order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonNode {
    pub depth: u16,
    /// Member name (objects) or `[index]` (arrays); `None` for the root.
    pub key: Option<String>,
    pub kind: JsonKind,
    /// Scalar text as written (strings unescaped); a count for containers.
    pub text: String,
    /// Bytes of the member (key included) inside the payload.
    pub span: Range<usize>,
    /// Index of the first node after this node's subtree.
    pub end: usize,
}

/// How the payload is best shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Text,
    Json,
    Hex,
}

#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub header_lines: Vec<HeaderLine>,
    /// `charset=` of `Content-Type`, lower-cased, if any.
    pub charset: Option<String>,
    pub content_type: Option<String>,
    /// The payload as text (decoded by the charset), when it is text.
    pub text: Option<String>,
    /// Why the text could not be decoded with the declared charset.
    pub charset_error: Option<String>,
    /// JSON tree (UTF-8 payloads only: spans are byte ranges of the payload).
    pub json: Vec<JsonNode>,
    /// The tree was cut at [`MAX_NODES`].
    pub json_truncated: bool,
    pub auto: Option<Viewer>,
}

pub const MAX_NODES: usize = 20_000;
const MAX_DEPTH: u16 = 64;

/// Header lines with byte ranges. The status line is not included.
pub fn header_lines(block: &[u8]) -> Vec<HeaderLine> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < block.len() {
        let rest = block.get(start..).unwrap_or_default();
        let end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .map(|position| start + position)
            .unwrap_or(block.len());
        let line = block.get(start..end).unwrap_or_default();
        if !first && !line.is_empty() {
            let text = String::from_utf8_lossy(line);
            if let Some((name, value)) = text.split_once(':') {
                lines.push(HeaderLine {
                    name: name.to_string(),
                    value: value.trim_start_matches(' ').to_string(),
                    span: start..end,
                });
            }
        }
        first = false;
        start = end + 2;
    }
    lines
}

fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    })
}

fn decode_utf16(data: &[u8], little_endian: Option<bool>) -> Result<String, String> {
    if !data.len().is_multiple_of(2) {
        return Err(format!("{} bytes is an odd length for UTF-16", data.len()));
    }
    // A BOM wins; without one RFC 2781 says big-endian.
    let (little, body) = match (data.get(..2), little_endian) {
        (Some([0xFF, 0xFE]), _) => (true, data.get(2..).unwrap_or_default()),
        (Some([0xFE, 0xFF]), _) => (false, data.get(2..).unwrap_or_default()),
        (_, Some(little)) => (little, data),
        (_, None) => (false, data),
    };
    let units = body.chunks_exact(2).map(|pair| {
        let bytes = [pair[0], pair[1]];
        if little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }
    });
    char::decode_utf16(units)
        .enumerate()
        .map(|(index, unit)| unit.map_err(|_| format!("unpaired surrogate at UTF-16 unit {index}")))
        .collect()
}

/// Decodes `data` as `charset` (`None`: UTF-8). `Err` says why not.
pub fn decode_text(data: &[u8], charset: Option<&str>) -> Result<String, String> {
    match charset.unwrap_or("utf-8") {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => std::str::from_utf8(data)
            .map(str::to_string)
            .map_err(|error| format!("not UTF-8: {error}")),
        "utf-16" => decode_utf16(data, None),
        "utf-16le" => decode_utf16(data, Some(true)),
        "utf-16be" => decode_utf16(data, Some(false)),
        "iso-8859-1" | "latin1" | "latin-1" => Ok(data.iter().map(|&b| b as char).collect()),
        other => Err(format!("charset {other} is not supported (shown as UTF-8)")),
    }
}

fn looks_like_text(text: &str) -> bool {
    let control = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    control * 20 <= text.chars().count()
}

/// Everything the detail view needs about one message.
pub fn analyze(headers: &[u8], data: &[u8]) -> Analysis {
    let header_lines = header_lines(headers);
    let content_type = header_lines
        .iter()
        .find(|line| line.name.eq_ignore_ascii_case("Content-Type"))
        .map(|line| line.value.trim().to_string());
    let charset = content_type.as_deref().and_then(charset_of);
    let (text, charset_error) = match decode_text(data, charset.as_deref()) {
        Ok(text) => (Some(text), None),
        Err(error) if charset.is_some() => (
            std::str::from_utf8(data).ok().map(str::to_string),
            Some(error),
        ),
        Err(_) => (None, None),
    };
    let utf8 = std::str::from_utf8(data).is_ok();
    let (json, json_truncated) = if utf8 {
        JsonParser::tree(data)
    } else {
        (Vec::new(), false)
    };
    let declared_json = content_type
        .as_deref()
        .is_some_and(|kind| kind.to_ascii_lowercase().contains("json"));
    let json_container = json
        .first()
        .is_some_and(|root| matches!(root.kind, JsonKind::Object | JsonKind::Array));
    let auto = if !json.is_empty() && (declared_json || json_container) {
        Viewer::Json
    } else if text.as_deref().is_some_and(looks_like_text) {
        Viewer::Text
    } else {
        Viewer::Hex
    };
    Analysis {
        header_lines,
        charset,
        content_type,
        text,
        charset_error,
        json,
        json_truncated,
        auto: Some(auto),
    }
}

/// A small JSON reader that keeps byte spans (serde_json does not).
struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
    nodes: Vec<JsonNode>,
    truncated: bool,
}

impl<'a> JsonParser<'a> {
    /// The tree, or empty when `bytes` is not one JSON value.
    fn tree(bytes: &'a [u8]) -> (Vec<JsonNode>, bool) {
        let mut parser = JsonParser {
            bytes,
            at: 0,
            nodes: Vec::new(),
            truncated: false,
        };
        parser.skip_space();
        let start = parser.at;
        if parser.value(None, start, 0).is_none() {
            return (Vec::new(), false);
        }
        parser.skip_space();
        if parser.at != bytes.len() {
            return (Vec::new(), false);
        }
        (parser.nodes, parser.truncated)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn push(&mut self, node: JsonNode) -> Option<usize> {
        if self.nodes.len() >= MAX_NODES {
            self.truncated = true;
            return None;
        }
        self.nodes.push(node);
        Some(self.nodes.len() - 1)
    }

    /// Parses one value whose member starts at `member_start`.
    fn value(&mut self, key: Option<String>, member_start: usize, depth: u16) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let kind = match self.peek()? {
            b'{' => JsonKind::Object,
            b'[' => JsonKind::Array,
            b'"' => JsonKind::String,
            b't' | b'f' => JsonKind::Bool,
            b'n' => JsonKind::Null,
            b'-' | b'0'..=b'9' => JsonKind::Number,
            _ => return None,
        };
        let index = if self.truncated {
            None
        } else {
            self.push(JsonNode {
                depth,
                key,
                kind,
                text: String::new(),
                span: member_start..member_start,
                end: 0,
            })
        };
        let text = match kind {
            JsonKind::Object => self.object(depth)?,
            JsonKind::Array => self.array(depth)?,
            JsonKind::String => self.string()?,
            JsonKind::Bool | JsonKind::Null | JsonKind::Number => self.scalar()?,
        };
        if let Some(index) = index {
            let end = self.nodes.len();
            if let Some(node) = self.nodes.get_mut(index) {
                node.text = text;
                node.span = member_start..self.at;
                node.end = end;
            }
        }
        Some(())
    }

    fn object(&mut self, depth: u16) -> Option<String> {
        self.at += 1;
        let mut members = 0usize;
        loop {
            self.skip_space();
            if self.peek()? == b'}' && members == 0 {
                self.at += 1;
                return Some("{}".into());
            }
            let member_start = self.at;
            if self.peek()? != b'"' {
                return None;
            }
            let name = self.string()?;
            self.skip_space();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.skip_space();
            self.value(Some(name), member_start, depth + 1)?;
            members += 1;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(format!("{{{members}}}"));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: u16) -> Option<String> {
        self.at += 1;
        let mut items = 0usize;
        loop {
            self.skip_space();
            if self.peek()? == b']' && items == 0 {
                self.at += 1;
                return Some("[]".into());
            }
            let start = self.at;
            self.value(Some(format!("[{items}]")), start, depth + 1)?;
            items += 1;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(format!("[{items}]"));
                }
                _ => return None,
            }
        }
    }

    /// A string token, unescaped (via serde_json for the escapes).
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        serde_json::from_slice::<String>(self.bytes.get(start..self.at)?).ok()
    }

    fn scalar(&mut self) -> Option<String> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'-' | b'+' | b'.' | b'E')
        ) {
            self.at += 1;
        }
        let token = self.bytes.get(start..self.at)?;
        // Validate the token the way a JSON reader would.
        serde_json::from_slice::<serde_json::Value>(token).ok()?;
        Some(String::from_utf8_lossy(token).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nodes_know_their_bytes() {
        let payload = br#"{"order_id":"ORD-1","items":[1,2],"ok":true}"#;
        let analysis = analyze(b"", payload);
        assert_eq!(analysis.auto, Some(Viewer::Json));
        let items = analysis
            .json
            .iter()
            .find(|node| node.key.as_deref() == Some("items"))
            .unwrap();
        assert_eq!(&payload[items.span.clone()], br#""items":[1,2]"#);
        assert_eq!(items.text, "[2]");
        let id = &analysis.json[1];
        assert_eq!(&payload[id.span.clone()], br#""order_id":"ORD-1""#);
        assert_eq!(id.text, "ORD-1");
        assert_eq!(analysis.json[0].end, analysis.json.len());
    }

    #[test]
    fn not_json_gives_no_tree() {
        assert!(analyze(b"", b"{\"a\":1").json.is_empty());
        assert!(analyze(b"", b"[1,2] x").json.is_empty());
        assert_eq!(analyze(b"", b"hello").auto, Some(Viewer::Text));
        assert_eq!(analyze(b"", &[0, 1, 2, 255]).auto, Some(Viewer::Hex));
    }

    #[test]
    fn header_spans_and_utf16_charset() {
        let block = b"NATS/1.0\r\nContent-Type: text/plain; charset=utf-16\r\nA: b\r\n\r\n";
        let data = [0xFF, 0xFE, b'h', 0, b'i', 0];
        let analysis = analyze(block, &data);
        assert_eq!(analysis.charset.as_deref(), Some("utf-16"));
        assert_eq!(analysis.text.as_deref(), Some("hi"));
        let line = &analysis.header_lines[1];
        assert_eq!(&block[line.span.clone()], b"A: b");
        assert_eq!(line.value, "b");
    }
}

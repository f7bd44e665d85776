//! Kafka's primitive wire types: big-endian integers, unsigned varints,
//! classic strings and arrays (int16 / int32 length) and their compact forms
//! (varint length + 1, zero for null), and tagged fields.
//!
//! The reader never panics and never trusts a length: every read checks the
//! bytes left, and a count is never used to reserve more elements than the
//! remaining bytes could hold.

/// A response that does not parse: what was being read when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed response ({0})")]
pub(crate) struct Malformed(pub &'static str);

pub(crate) type Parsed<T> = Result<T, Malformed>;

/// Builds a request body.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub(crate) fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            // Truncation intended: the low seven bits with the continuation bit.
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A length as a compact (length + 1) varint. Lengths beyond u32 cannot
    /// be sent; callers never get near (group ids come from the broker).
    pub(crate) fn compact_len(&mut self, len: usize) {
        self.uvarint(u32::try_from(len).unwrap_or(u32::MAX - 1).saturating_add(1));
    }

    /// A classic nullable string (int16 length, -1 for null).
    pub(crate) fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            None => self.i16(-1),
            Some(s) => {
                let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
                self.i16(bytes.len() as i16);
                self.buf.extend_from_slice(bytes);
            }
        }
    }

    pub(crate) fn compact_string(&mut self, s: &str) {
        self.compact_len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn compact_strings<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a str>) {
        self.compact_len(items.len());
        for s in items {
            self.compact_string(s);
        }
    }

    /// A compact array that is null.
    pub(crate) fn compact_null_array(&mut self) {
        self.uvarint(0);
    }

    /// No tagged fields.
    pub(crate) fn no_tags(&mut self) {
        self.uvarint(0);
    }
}

/// Reads a response body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Parsed<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Malformed(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Parsed<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    #[cfg(test)]
    pub(crate) fn i8(&mut self, what: &'static str) -> Parsed<i8> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i16(&mut self, what: &'static str) -> Parsed<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Parsed<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Parsed<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn uvarint(&mut self, what: &'static str) -> Parsed<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1, what)?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                // The fifth byte may carry only the top four bits.
                if i == 4 && b > 0x0f {
                    return Err(Malformed(what));
                }
                return Ok(value);
            }
        }
        Err(Malformed(what))
    }

    /// A compact length: `None` for null (varint 0).
    pub(crate) fn compact_len(&mut self, what: &'static str) -> Parsed<Option<usize>> {
        let n = self.uvarint(what)?;
        Ok(n.checked_sub(1).map(|n| n as usize))
    }

    /// A compact array count, `None` for null, never more than the bytes
    /// left could hold (each element takes at least `min_size` bytes).
    pub(crate) fn compact_count(&mut self, min_size: usize, what: &'static str) -> Parsed<Option<usize>> {
        match self.compact_len(what)? {
            Some(n) if n.saturating_mul(min_size.max(1)) > self.buf.len() => Err(Malformed(what)),
            n => Ok(n),
        }
    }

    /// A classic array count (int32, -1 for null), bounded like [`Reader::compact_count`].
    pub(crate) fn count(&mut self, min_size: usize, what: &'static str) -> Parsed<Option<usize>> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(None);
        }
        let n = n as usize;
        if n.saturating_mul(min_size.max(1)) > self.buf.len() {
            return Err(Malformed(what));
        }
        Ok(Some(n))
    }

    /// A compact nullable string; invalid UTF-8 is replaced, as klag does
    /// with every name read from librdkafka.
    pub(crate) fn compact_nullable_string(&mut self, what: &'static str) -> Parsed<Option<String>> {
        match self.compact_len(what)? {
            None => Ok(None),
            Some(n) => Ok(Some(lossy(self.take(n, what)?))),
        }
    }

    /// A compact string; null reads as empty (as librdkafka reads it).
    pub(crate) fn compact_string(&mut self, what: &'static str) -> Parsed<String> {
        Ok(self.compact_nullable_string(what)?.unwrap_or_default())
    }

    /// Skips a compact string.
    pub(crate) fn skip_compact_string(&mut self, what: &'static str) -> Parsed<()> {
        if let Some(n) = self.compact_len(what)? {
            self.take(n, what)?;
        }
        Ok(())
    }

    /// A compact byte string (null reads as empty).
    pub(crate) fn compact_bytes(&mut self, what: &'static str) -> Parsed<&'a [u8]> {
        match self.compact_len(what)? {
            None => Ok(&[]),
            Some(n) => self.take(n, what),
        }
    }

    /// A classic string (int16 length, -1 for null reads as empty).
    pub(crate) fn string(&mut self, what: &'static str) -> Parsed<String> {
        let n = self.i16(what)?;
        if n < 0 {
            return Ok(String::new());
        }
        Ok(lossy(self.take(n as usize, what)?))
    }

    /// Skips tagged fields (none of which klag needs).
    pub(crate) fn skip_tags(&mut self, what: &'static str) -> Parsed<()> {
        let fields = self.uvarint(what)?;
        for _ in 0..fields {
            self.uvarint(what)?;
            let size = self.uvarint(what)?;
            self.take(size as usize, what)?;
        }
        Ok(())
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut w = Writer::default();
            w.uvarint(v);
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.uvarint("v"), Ok(v), "{v}");
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn overlong_or_truncated_varints_are_malformed() {
        assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).uvarint("v").is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint("v").is_err());
        assert!(Reader::new(&[0x80]).uvarint("v").is_err());
        assert!(Reader::new(&[]).uvarint("v").is_err());
    }

    #[test]
    fn compact_strings_and_nulls() {
        let mut w = Writer::default();
        w.compact_string("héllo");
        w.compact_null_array();
        w.no_tags();
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.compact_string("s"), Ok("héllo".to_string()));
        assert_eq!(r.compact_nullable_string("n"), Ok(None));
        assert_eq!(r.skip_tags("t"), Ok(()));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut r = Reader::new(&[4, b'a', 0xff, b'c']);
        assert_eq!(r.compact_string("s"), Ok("a\u{fffd}c".to_string()));
    }

    #[test]
    fn counts_beyond_the_bytes_left_are_malformed() {
        // 1000 elements announced, 3 bytes left.
        let mut w = Writer::default();
        w.compact_len(1000);
        w.buf.extend_from_slice(&[1, 2, 3]);
        assert!(Reader::new(&w.buf).compact_count(1, "a").is_err());
        assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).count(4, "a").is_err());
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).count(4, "a"), Ok(None));
    }

    #[test]
    fn tagged_fields_are_skipped() {
        // Two fields: tag 0 with 2 bytes, tag 5 with 0 bytes; then an int8.
        let mut r = Reader::new(&[2, 0, 2, 9, 9, 5, 0, 7]);
        assert_eq!(r.skip_tags("t"), Ok(()));
        assert_eq!(r.i8("x"), Ok(7));
        assert!(Reader::new(&[1, 0, 5, 1]).skip_tags("t").is_err());
    }

    #[test]
    fn classic_strings() {
        let mut w = Writer::default();
        w.nullable_string(Some("klag"));
        w.nullable_string(None);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.string("s"), Ok("klag".to_string()));
        assert_eq!(r.string("s"), Ok(String::new()));
        assert!(Reader::new(&[0, 5, b'a']).string("s").is_err());
    }
}
